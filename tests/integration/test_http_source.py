"""HttpSource against a real HTTP origin on 127.0.0.1, and against httpx.MockTransport.

The origin is a few lines of asyncio that write responses byte by byte, so it can lie
(a wrong Content-Length) and stall (waiting on an event the fixture sets at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import trustme

from imgfleet.adapters.source.http import HttpSource, HttpSourceConfig, resolve_host
from imgfleet.core.errors import (
    ForbiddenSource,
    ImgfleetError,
    OriginError,
    OriginTimeout,
    SourceNotFound,
    TooLarge,
)

pytestmark = pytest.mark.integration

BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
# Seconds. Every fetch is bounded by TIMEOUT: generous, so that no fetch that should succeed
# times out on a busy shared machine. The tests that wait for a timeout to fire use SHORT, and
# give it LIMIT to fire: a fetch whose timeout did not apply would wait for the stalled origin
# until teardown, and LIMIT is over ten times SHORT, so a slow machine cannot be mistaken for it.
TIMEOUT = 5.0
SHORT = 0.4
LIMIT = 5.0

Writer = asyncio.StreamWriter


@dataclass
class Seen:
    target: str
    headers: dict[str, str]


@dataclass
class Origin:
    """A tiny HTTP/1.1 server; every answer ends with `Connection: close`."""

    tls: ssl.SSLContext | None = None
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release.set()
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            target = request_line.split(" ")[1]
            headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            self.seen.append(Seen(target, headers))
            path = target.partition("?")[0]
            route = _chain if path.startswith("/chain/") else ROUTES.get(path, _not_found)
            await route(self, writer, path)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


Route = Callable[[Origin, Writer, str], Awaitable[None]]


def _answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _image(origin: Origin, writer: Writer, path: str) -> None:
    headers = {"Content-Type": "image/png", "Content-Length": str(len(BODY))}
    writer.write(_answer("200 OK", headers | {"Set-Cookie": "session=abc; Path=/"}, BODY))


def _redirect(location: str, status: str = "302 Found") -> Route:
    async def route(origin: Origin, writer: Writer, path: str) -> None:
        target = location.format(port=origin.port)
        writer.write(_answer(status, {"Location": target, "Content-Length": "0"}))

    return route


async def _chain(origin: Origin, writer: Writer, path: str) -> None:
    left = int(path.rsplit("/", 1)[1])
    if left == 0:
        await _image(origin, writer, path)
    else:
        await _redirect(f"/chain/{left - 1}")(origin, writer, path)


def _status(status: str) -> Route:
    async def route(origin: Origin, writer: Writer, path: str) -> None:
        writer.write(_answer(status, {"Content-Length": "2"}, b"no"))

    return route


async def _not_found(origin: Origin, writer: Writer, path: str) -> None:
    await _status("404 Not Found")(origin, writer, path)


async def _slow_body(origin: Origin, writer: Writer, path: str) -> None:
    writer.write(_answer("200 OK", {"Content-Length": str(len(BODY))}, BODY[:10]))
    await writer.drain()
    await origin.release.wait()


async def _no_answer(origin: Origin, writer: Writer, path: str) -> None:
    await origin.release.wait()


async def _endless(origin: Origin, writer: Writer, path: str) -> None:
    writer.write(_answer("200 OK", {"Transfer-Encoding": "chunked"}))
    chunk = b"%x\r\n%s\r\n" % (len(BODY), BODY)
    while not origin.release.is_set():  # until the client hangs up
        writer.write(chunk)
        await writer.drain()


async def _declared_huge(origin: Origin, writer: Writer, path: str) -> None:
    writer.write(_answer("200 OK", {"Content-Length": str(10**12)}, BODY))
    await writer.drain()
    await origin.release.wait()


async def _understated(origin: Origin, writer: Writer, path: str) -> None:
    writer.write(_answer("200 OK", {"Content-Length": "10"}, BODY * 100))


async def _overstated(origin: Origin, writer: Writer, path: str) -> None:
    writer.write(_answer("200 OK", {"Content-Length": "1000"}, BODY[:20]))


ROUTES: dict[str, Route] = {
    "/image": _image,
    "/redirect": _redirect("/image"),
    "/redirect-301": _redirect("/image", "301 Moved Permanently"),
    "/redirect-308-absolute": _redirect("http://127.0.0.1:{port}/image", "308 Permanent Redirect"),
    "/redirect-elsewhere": _redirect("http://elsewhere.test/image"),
    "/redirect-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
    "/redirect-file": _redirect("file:///etc/passwd"),
    "/redirect-empty": _redirect(""),
    "/loop": _redirect("/loop"),
    "/gone": _status("410 Gone"),
    "/error": _status("500 Internal Server Error"),
    "/teapot": _status("418 I'm a teapot"),
    "/slow-body": _slow_body,
    "/no-answer": _no_answer,
    "/endless": _endless,
    "/declared-huge": _declared_huge,
    "/understated": _understated,
    "/overstated": _overstated,
}


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    server = Origin()
    await server.start()
    yield server
    await server.stop()


def _settings(
    *prefixes: str, private: bool = True, redirects: int = 3, timeout: float = TIMEOUT
) -> HttpSourceConfig:
    return HttpSourceConfig(
        allowed_prefixes=prefixes,
        allow_private_networks=private,
        connect_timeout=timeout,
        download_timeout=timeout,
        max_redirects=redirects,
    )


@contextlib.asynccontextmanager
async def _source(
    settings: HttpSourceConfig,
    resolver: Callable[[str, int], Awaitable[list[str]]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[HttpSource]:
    source = HttpSource(settings, resolver=resolver, transport=transport)
    try:
        yield source
    finally:
        await source.aclose()


def _resolver(
    table: dict[str, list[str]], calls: list[str] | None = None
) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        return table[host]

    return resolve


# --- the happy path ----------------------------------------------------------------------


async def test_fetches_from_the_loopback_origin_when_private_networks_are_allowed(
    origin: Origin,
) -> None:
    async with _source(_settings(origin.base + "/", private=True)) as source:
        assert await source.fetch(origin.base + "/image", 1 << 20) == BODY
    seen = origin.seen[0]
    assert seen.headers["host"] == f"127.0.0.1:{origin.port}"
    assert seen.headers["user-agent"] == "imgfleet"
    assert seen.headers["accept-encoding"] == "identity"


async def test_sends_the_configured_user_agent(origin: Origin) -> None:
    settings = dataclasses.replace(_settings(origin.base + "/"), user_agent="probe/1.0")
    async with _source(settings) as source:
        await source.fetch(origin.base + "/image", 1 << 20)
    assert origin.seen[0].headers["user-agent"] == "probe/1.0"


async def test_keeps_no_cookies_between_fetches(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        await source.fetch(origin.base + "/image", 1 << 20)
        await source.fetch(origin.base + "/image", 1 << 20)
    assert all("cookie" not in seen.headers for seen in origin.seen)


# --- the SSRF guard ----------------------------------------------------------------------


async def test_the_same_url_is_refused_as_loopback_when_private_networks_are_not_allowed(
    origin: Origin,
) -> None:
    async with _source(_settings(origin.base + "/", private=False)) as source:
        with pytest.raises(ForbiddenSource, match="loopback") as caught:
            await source.fetch(origin.base + "/image", 1 << 20)
    assert caught.value.status == 403
    assert origin.seen == []


async def test_guard_checks_the_resolved_address_not_the_name(origin: Origin) -> None:
    name = f"http://images.test:{origin.port}"
    resolver = _resolver({"images.test": ["127.0.0.1"]})
    async with _source(_settings(name + "/", private=False), resolver) as source:
        with pytest.raises(ForbiddenSource, match="loopback"):
            await source.fetch(name + "/image", 1 << 20)
    assert origin.seen == []


async def test_resolved_name_is_pinned_and_keeps_its_host_header(origin: Origin) -> None:
    name = f"http://images.test:{origin.port}"
    calls: list[str] = []
    resolver = _resolver({"images.test": ["127.0.0.1"]}, calls)
    async with _source(_settings(name + "/", private=True), resolver) as source:
        assert await source.fetch(name + "/redirect", 1 << 20) == BODY
    assert [seen.target for seen in origin.seen] == ["/redirect", "/image"]
    assert {seen.headers["host"] for seen in origin.seen} == {f"images.test:{origin.port}"}
    assert calls == ["images.test", "images.test"]  # once per hop, never by the transport


async def test_the_system_resolver_is_guarded_too(origin: Origin) -> None:
    assert "127.0.0.1" in await resolve_host("localhost", origin.port) or (
        "::1" in await resolve_host("localhost", origin.port)
    )
    name = f"http://localhost:{origin.port}"
    async with _source(_settings(name + "/", private=False)) as source:
        with pytest.raises(ForbiddenSource, match="loopback"):
            await source.fetch(name + "/image", 1 << 20)


async def test_redirect_to_the_metadata_address_is_refused(origin: Origin) -> None:
    # The metadata address is in the allowlist, and private networks are allowed: the
    # address guard alone refuses it, at the redirect hop.
    settings = _settings(origin.base + "/", "http://169.254.169.254/", private=True)
    async with _source(settings) as source:
        with pytest.raises(ForbiddenSource, match="cloud metadata"):
            await source.fetch(origin.base + "/redirect-metadata", 1 << 20)
    assert [seen.target for seen in origin.seen] == ["/redirect-metadata"]


async def test_redirect_outside_the_allowlist_is_refused(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(ForbiddenSource, match="allowed prefixes"):
            await source.fetch(origin.base + "/redirect-elsewhere", 1 << 20)


async def test_redirect_to_another_scheme_is_refused(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(ForbiddenSource, match="http or https"):
            await source.fetch(origin.base + "/redirect-file", 1 << 20)


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/redirect", "/redirect-301", "/redirect-308-absolute"])
async def test_follows_redirects_inside_the_allowlist(origin: Origin, path: str) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        assert await source.fetch(origin.base + path, 1 << 20) == BODY


async def test_follows_exactly_max_redirects(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/", redirects=3)) as source:
        assert await source.fetch(origin.base + "/chain/3", 1 << 20) == BODY
        with pytest.raises(OriginError, match="too many redirects"):
            await source.fetch(origin.base + "/chain/4", 1 << 20)


async def test_zero_redirects_allowed(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/", redirects=0)) as source:
        assert await source.fetch(origin.base + "/chain/0", 1 << 20) == BODY
        with pytest.raises(OriginError, match="too many redirects"):
            await source.fetch(origin.base + "/chain/1", 1 << 20)


async def test_redirect_loop_ends(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/", redirects=5)) as source:
        with pytest.raises(OriginError, match="too many redirects") as caught:
            await source.fetch(origin.base + "/loop", 1 << 20)
    assert caught.value.status == 502
    assert len(origin.seen) == 6


async def test_redirect_without_location(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(OriginError, match="without a Location"):
            await source.fetch(origin.base + "/redirect-empty", 1 << 20)


# --- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/missing", "/gone"])
async def test_missing_at_the_origin_is_not_found(origin: Origin, path: str) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(SourceNotFound) as caught:
            await source.fetch(origin.base + path, 1 << 20)
    assert caught.value.status == 404


@pytest.mark.parametrize(("path", "status"), [("/error", "500"), ("/teapot", "418")])
async def test_other_statuses_are_origin_errors(origin: Origin, path: str, status: str) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(OriginError, match=status) as caught:
            await source.fetch(origin.base + path, 1 << 20)
    assert caught.value.status == 502


# --- time and size -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/slow-body", "/no-answer"])
async def test_slow_origin_times_out(origin: Origin, path: str) -> None:
    async with _source(_settings(origin.base + "/", timeout=SHORT)) as source:
        with pytest.raises(OriginTimeout) as caught:
            async with asyncio.timeout(LIMIT):  # a TimeoutError here: SHORT did not apply
                await source.fetch(origin.base + path, 1 << 20)
    assert caught.value.status == 504


async def test_endless_body_stops_at_the_limit(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(TooLarge) as caught:
            await source.fetch(origin.base + "/endless", 10 * len(BODY))
    assert caught.value.status == 413


async def test_declared_length_over_the_limit_is_refused_before_reading(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(TooLarge, match="Content-Length"):
            await source.fetch(origin.base + "/declared-huge", 1 << 20)


async def test_exactly_the_limit_is_accepted(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        assert await source.fetch(origin.base + "/image", len(BODY)) == BODY
        with pytest.raises(TooLarge):
            await source.fetch(origin.base + "/image", len(BODY) - 1)


async def test_understated_length_never_yields_more_than_declared(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        assert await source.fetch(origin.base + "/understated", 1 << 20) == BODY[:10]


async def test_overstated_length_is_an_origin_error(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/")) as source:
        with pytest.raises(OriginError):
            await source.fetch(origin.base + "/overstated", 1 << 20)


async def test_refused_connection_is_an_origin_error() -> None:
    # A port bound and held here but never listened on refuses connections, and no other
    # process can take it while the test runs (a port closed again could be taken).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}"
        async with _source(_settings(base + "/")) as source:
            with pytest.raises(OriginError, match="could not connect"):
                await source.fetch(base + "/image", 1 << 20)


# --- URL checks --------------------------------------------------------------------------


async def test_empty_allowlist_disables_http_sources(origin: Origin) -> None:
    async with _source(_settings()) as source:
        with pytest.raises(ForbiddenSource, match="not enabled"):
            await source.fetch(origin.base + "/image", 1 << 20)


async def test_allowlist_prefix_matches_at_a_path_boundary(origin: Origin) -> None:
    async with _source(_settings(origin.base + "/img")) as source:
        with pytest.raises(ForbiddenSource, match="allowed prefixes"):
            await source.fetch(origin.base + "/image", 1 << 20)
    async with _source(_settings(origin.base)) as source:
        assert await source.fetch(origin.base + "/image", 1 << 20) == BODY


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/image",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://user:pw@127.0.0.1/image",
        "http://127.0.0.1/a%2Fb",
        "http://127.0.0.1/a\x00b",  # refused by httpx's parser, translated
    ],
)
async def test_bad_urls_are_refused(url: str) -> None:
    async with _source(_settings("http://", "https://")) as source:
        with pytest.raises(ForbiddenSource):
            await source.fetch(url, 1 << 20)


# --- MockTransport: addresses no real origin could have -----------------------------------


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


async def test_every_hop_is_checked_against_the_address_policy() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(302, headers={"Location": "http://intranet.test/secret.png"})

    resolver = _resolver({"cdn.test": ["93.184.216.34"], "intranet.test": ["10.0.0.7"]})
    settings = _settings("http://cdn.test/", "http://intranet.test/", private=False)
    async with _source(settings, resolver, _mock(handler)) as source:
        with pytest.raises(ForbiddenSource, match="private"):
            await source.fetch("http://cdn.test/a.png", 1 << 20)
    assert [str(r.url) for r in requests] == ["http://93.184.216.34/a.png"]
    assert requests[0].headers["host"] == "cdn.test"


async def test_one_forbidden_record_refuses_the_host() -> None:
    resolver = _resolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]})
    transport = _mock(lambda request: httpx.Response(200, content=BODY))
    settings = _settings("http://mixed.test/", private=False)
    async with _source(settings, resolver, transport) as source:
        with pytest.raises(ForbiddenSource, match="loopback"):
            await source.fetch("http://mixed.test/a.png", 1 << 20)


async def test_https_by_name_is_pinned_with_sni_and_no_reuse() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=BODY)

    resolver = _resolver({"cdn.test": ["2606:4700::1", "93.184.216.34"]})
    settings = _settings("https://cdn.test/", private=False)
    async with _source(settings, resolver, _mock(handler)) as source:
        assert await source.fetch("https://cdn.test/a.png?w=1", 1 << 20) == BODY
    request = requests[0]
    assert str(request.url) == "https://[2606:4700::1]/a.png?w=1"
    assert request.headers["host"] == "cdn.test"
    assert request.headers["connection"] == "close"
    assert request.extensions["sni_hostname"] == "cdn.test"


async def test_literal_public_address_needs_no_resolver() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=BODY)

    settings = _settings("https://93.184.216.34/", private=False)
    async with _source(settings, _resolver({}), _mock(handler)) as source:
        assert await source.fetch("https://93.184.216.34:443/a.png", 1 << 20) == BODY
    assert "sni_hostname" not in requests[0].extensions
    assert requests[0].headers["host"] == "93.184.216.34"


@pytest.mark.parametrize(
    ("table", "message"),
    [({}, "could not resolve"), ({"cdn.test": []}, "could not resolve")],
)
async def test_resolution_failure_is_an_origin_error(
    table: dict[str, list[str]], message: str
) -> None:
    settings = _settings("http://cdn.test/", private=False)
    transport = _mock(lambda request: httpx.Response(200, content=BODY))
    async with _source(settings, _resolver(table), transport) as source:
        with pytest.raises(OriginError, match=message):
            await source.fetch("http://cdn.test/a.png", 1 << 20)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectTimeout("slow connect"), OriginTimeout),
        (httpx.PoolTimeout("pool full"), OriginTimeout),
        (httpx.ConnectError("refused"), OriginError),
        (httpx.ReadError("reset"), OriginError),
        (httpx.RemoteProtocolError("garbage"), OriginError),
        (httpx.UnsupportedProtocol("odd"), OriginError),
    ],
)
async def test_transport_errors_are_translated(
    raised: Exception, expected: type[ImgfleetError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    resolver = _resolver({"cdn.test": ["93.184.216.34"]})
    settings = _settings("http://cdn.test/", private=False)
    async with _source(settings, resolver, _mock(handler)) as source:
        with pytest.raises(expected) as caught:
            await source.fetch("http://cdn.test/a.png", 1 << 20)
    assert caught.value.__cause__ is raised


# --- real TLS: the certificate is checked against the name, not the pinned address ----------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    """A certificate authority made in-process (no openssl binary), trusted by the client."""
    return trustme.CA()


@pytest.fixture
async def tls_origin(authority: trustme.CA) -> AsyncIterator[Origin]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("images.test").configure_cert(context)
    server = Origin(tls=context)
    await server.start()
    yield server
    await server.stop()


def _trusting(authority: trustme.CA) -> httpx.AsyncHTTPTransport:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return httpx.AsyncHTTPTransport(verify=context)


async def test_https_verifies_the_certificate_against_the_host_name(
    tls_origin: Origin, authority: trustme.CA
) -> None:
    base = f"https://images.test:{tls_origin.port}"
    resolver = _resolver({"images.test": ["127.0.0.1"]})
    async with _source(_settings(base + "/"), resolver, _trusting(authority)) as source:
        assert await source.fetch(base + "/redirect", 1 << 20) == BODY
    assert {seen.headers["host"] for seen in tls_origin.seen} == {f"images.test:{tls_origin.port}"}


async def test_https_refuses_a_certificate_for_another_name(
    tls_origin: Origin, authority: trustme.CA
) -> None:
    base = f"https://other.test:{tls_origin.port}"
    resolver = _resolver({"other.test": ["127.0.0.1"]})
    async with _source(_settings(base + "/"), resolver, _trusting(authority)) as source:
        with pytest.raises(OriginError, match="could not connect") as caught:
            await source.fetch(base + "/image", 1 << 20)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.__cause__)
    assert tls_origin.seen == []
