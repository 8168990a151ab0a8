"""`http(s)://` sources, behind the URL allowlist and the SSRF address guard.

Every hop (the first request and each redirect, followed by hand) is checked the same way:

1. the URL is normalised (`core.address_policy.normalise_url`) and must be http(s) and
   inside `allowed_prefixes`; the normalised URL is what is requested;
2. the host is resolved once and **every** address must pass `is_forbidden` (one bad
   record refuses the host);
3. the request goes to the first checked address, written into the URL (pinned, so a second
   DNS answer cannot swap it), with the original `Host` header and, for https, the
   `sni_hostname` extension so the certificate is verified against the host name.

httpcore pools connections by the address in the URL, so an https connection made for one
host name could be reused for another name served from the same address — whose
certificate was then never checked. Requests pinned by name over https therefore send
`Connection: close`; plain http and literal-address URLs keep their connections alive.

The whole fetch (resolution, every hop, the body) runs under `download_timeout`; connects
under `connect_timeout`. httpx's exceptions are translated in `_translated_errors` only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urljoin

import httpx

from imgfleet.core.address_policy import allowed_by_prefix, is_forbidden, normalise_url
from imgfleet.core.errors import (
    ForbiddenSource,
    OriginError,
    OriginTimeout,
    SourceNotFound,
    TooLarge,
)

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves `(host, port)` to IP addresses written as text."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GONE = frozenset({404, 410})
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=5.0)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FAILURES: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectError, "could not connect to the origin"),
    (httpx.RemoteProtocolError, "the origin broke the HTTP protocol"),
    (httpx.NetworkError, "the connection to the origin failed"),
    (httpx.DecodingError, "the origin's response could not be decoded"),
)


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order, without repeats."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class HttpSourceConfig:
    allowed_prefixes: tuple[str, ...] = ()  # empty: every HTTP source is refused
    allow_private_networks: bool = False  # the SSRF guard off (metadata addresses stay off)
    connect_timeout: float = 3.0
    download_timeout: float = 10.0  # the whole fetch, every redirect included
    max_redirects: int = 5
    user_agent: str = "imgfleet"


class HttpSource:
    """Fetches `http(s)://` sources; one shared client with a bounded connection pool."""

    def __init__(
        self,
        settings: HttpSourceConfig,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._resolve = resolver or resolve_host
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(limits=_LIMITS, retries=0),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "identity"},
            timeout=httpx.Timeout(settings.download_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would resolve the name itself
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # keep none
        )

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        if not self._settings.allowed_prefixes:
            raise ForbiddenSource("http sources are not enabled")
        with _translated_errors():
            async with asyncio.timeout(self._settings.download_timeout):
                return await self._follow(url, max_bytes)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _follow(self, url: str, max_bytes: int) -> bytes:
        target = url
        for _ in range(self._settings.max_redirects + 1):
            checked = self._checked_url(target)
            request = await self._pinned_request(checked)
            response = await self._client.send(request, stream=True)
            try:
                location = _redirect_location(response)
                if location is None:
                    return await _read_body(response, max_bytes)
            finally:
                await response.aclose()
            target = urljoin(str(checked), location)
        raise OriginError(f"too many redirects (more than {self._settings.max_redirects})")

    def _checked_url(self, url: str) -> httpx.URL:
        scheme = url.partition(":")[0].strip().lower()
        if scheme not in _DEFAULT_PORTS:
            raise ForbiddenSource(f"source URL must be http or https, received {url!r}")
        normal = normalise_url(url)
        if normal is None:
            raise ForbiddenSource(f"source URL is malformed or carries credentials: {url!r}")
        if not allowed_by_prefix(normal, self._settings.allowed_prefixes):
            raise ForbiddenSource(f"source URL is not in the allowed prefixes: {url!r}")
        return httpx.URL(normal)

    async def _pinned_request(self, url: httpx.URL) -> httpx.Request:
        host = url.host
        literal = _parse_address(host)
        port = url.port or _DEFAULT_PORTS[url.scheme]
        addresses = [literal] if literal else await self._resolved(host, port)
        for address in addresses:
            reason = is_forbidden(
                address, allow_private_networks=self._settings.allow_private_networks
            )
            if reason is not None:
                verb = "is" if literal else "resolves to"
                raise ForbiddenSource(f"source host {host!r} {verb} a forbidden address ({reason})")
        headers = {"Host": url.netloc.decode("ascii")}
        extensions: dict[str, str] = {}
        if literal is None and url.scheme == "https":
            extensions["sni_hostname"] = host
            headers["Connection"] = "close"
        pinned = url.copy_with(host=str(addresses[0]))
        return self._client.build_request("GET", pinned, headers=headers, extensions=extensions)

    async def _resolved(self, host: str, port: int) -> list[IPv4Address | IPv6Address]:
        try:
            texts = await self._resolve(host, port)
        except OSError:
            raise OriginError(f"could not resolve source host {host!r}") from None
        addresses = [_parse_address(text) for text in texts]
        checked = [address for address in addresses if address is not None]
        if not checked or len(checked) != len(addresses):
            raise OriginError(f"could not resolve source host {host!r}")
        return checked


def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _redirect_location(response: httpx.Response) -> str | None:
    """The next URL for a redirect, `None` for success; raises for any other status."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    if status in _REDIRECTS:
        location = response.headers.get("Location")
        if not location:
            raise OriginError(f"origin answered {status} without a Location")
        return str(location)
    if status in _GONE:
        raise SourceNotFound(f"origin answered {status}: source not found")
    raise OriginError(f"origin answered {status}")


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"source is larger than {max_bytes} bytes (Content-Length {declared})")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"source is larger than {max_bytes} bytes")
    return bytes(body)


@contextmanager
def _translated_errors() -> Iterator[None]:
    """The one place httpx's exceptions (and the deadline) become imgfleet errors."""
    try:
        yield
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise OriginTimeout("origin did not answer in time") from exc
    except httpx.InvalidURL as exc:
        raise ForbiddenSource("source URL is not valid") from exc
    except httpx.HTTPError as exc:
        message = next((text for kind, text in _FAILURES if isinstance(exc, kind)), None)
        raise OriginError(message or "the request to the origin failed") from exc
