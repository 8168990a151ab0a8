"""GET renditions over HTTP: formats, caching headers, errors, single-flight, admission."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pyvips

from imgfleet.service.delivery import ACCEPT_ENTRIES
from imgfleet.service.render_job import RenderJob, RenderResult
from tests.app.conftest import AppFactory, AppUnderTest, signed
from tests.waiting import until

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"


def decode(body: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(body, "")


async def test_fill_renders_exact_size_with_caching_headers(client: httpx.AsyncClient) -> None:
    r = await client.get(signed("rs:fill:120:80", "local:///photo.jpg", "png"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["etag"].startswith('"') and len(r.headers["etag"]) > 20
    assert "vary" not in r.headers  # format fixed by the URL
    image = decode(r.content)
    assert (image.width, image.height) == (120, 80)


async def test_plain_source_with_ext(client: httpx.AsyncClient) -> None:
    r = await client.get(signed("w:100", "local:///photo.jpg", "webp", plain=True))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    assert decode(r.content).width == 100


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (CHROME_ACCEPT, "image/avif"),
        ("image/webp,*/*", "image/webp"),
        ("*/*", "image/jpeg"),
        ("", "image/jpeg"),
    ],
)
async def test_format_follows_accept_with_vary(
    client: httpx.AsyncClient, accept: str, media_type: str
) -> None:
    r = await client.get(signed("w:64", "local:///photo.jpg"), headers={"accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert r.headers["vary"] == "Accept"


async def test_negotiated_keys_differ_by_format_not_by_header_text(
    client: httpx.AsyncClient,
) -> None:
    path = signed("w:64", "local:///photo.jpg")
    a = await client.get(path, headers={"accept": "image/webp,*/*"})
    b = await client.get(path, headers={"accept": "text/html,image/webp;q=0.9,*/*;q=0.8"})
    c = await client.get(path, headers={"accept": "*/*"})
    assert a.headers["etag"] == b.headers["etag"] != c.headers["etag"]


async def test_many_distinct_accept_headers_keep_negotiating_right(make_app: AppFactory) -> None:
    """Negotiations are remembered per Accept text, in a bounded memo that a client
    varying the header can only refill, never grow or confuse."""
    app = await make_app()
    path = signed("w:64", "local:///photo.jpg")
    async with _client(app) as c:
        for n in range(ACCEPT_ENTRIES + 10):
            webp = n % 2 == 0
            accept = f"image/webp,*/*;q=0.{n}" if webp else f"text/html;level={n}"
            r = await c.get(path, headers={"accept": accept})
            assert r.headers["content-type"] == ("image/webp" if webp else "image/jpeg")
    assert len(app.delivery._negotiated) <= ACCEPT_ENTRIES


async def test_only_paths_served_from_the_cache_are_remembered(make_app: AppFactory) -> None:
    """A stream of distinct misses (every URL new) must not fill the hot table."""
    app = await make_app()
    hot = app.app.hot
    assert hot is not None
    async with _client(app) as c:
        for width in range(40, 45):
            assert (await c.get(signed(f"w:{width}", "local:///photo.jpg", "jpg"))).is_success
        assert len(hot) == 0
        again = await c.get(signed("w:40", "local:///photo.jpg", "jpg"))  # now a hit
        assert again.is_success and len(hot) == 1


class _Later:
    """The system clock, `seconds` ahead."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds

    def monotonic(self) -> float:
        return time.monotonic()


async def test_a_url_that_expires_never_enters_the_hot_table(make_app: AppFactory) -> None:
    """Its answer depends on the time of the request: the service must see every one."""
    app = await make_app()
    path = signed(f"exp:{int(time.time()) + 100}/w:12", "local:///photo.jpg", "jpg")
    async with _client(app) as c:
        first, hit = await c.get(path), await c.get(path)
        assert first.status_code == hit.status_code == 200
        assert app.app.hot is not None and len(app.app.hot) == 0
        app.delivery.clock = _Later(101)
        late = await c.get(path)
        assert late.status_code == 404 and late.json()["error"] == "expired"


async def test_animated_gif_keeps_frames_and_negotiated_avif_becomes_webp(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(signed("w:20", "local:///anim.gif"), headers={"accept": CHROME_ACCEPT})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    image = pyvips.Image.new_from_buffer(r.content, "", n=-1)
    assert image.get("n-pages") == 4 and image.width == 20


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),  # weak comparison: RFC 9110 13.1.2
        ('"other", {etag}', 304),
        ('"other",W/{etag} , "more"', 304),
        ("*", 304),
        (" * ", 304),
        ('"other"', 200),
        ('W/"other", "more"', 200),
        ("", 200),
    ],
)
async def test_if_none_match_answers_304_with_the_caching_headers(
    client: httpx.AsyncClient, if_none_match: str, status: int
) -> None:
    path = signed("w:50", "local:///photo.jpg")  # negotiated: the answer varies by Accept
    accept = {"accept": "image/webp,*/*"}
    first = await client.get(path, headers=accept)
    etag = first.headers["etag"]
    header = if_none_match.format(etag=etag)
    again = await client.get(path, headers={**accept, "if-none-match": header})
    assert again.status_code == status
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers["vary"] == "Accept"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    if status == 304:
        assert again.content == b"" and "content-type" not in again.headers
    else:
        assert again.content == first.content


async def test_equal_renditions_share_a_key_whatever_the_spelling(
    client: httpx.AsyncClient,
) -> None:
    a = await client.get(signed("rs:fit:100:0/q:80", "local:///photo.jpg", "jpg"))
    b = await client.get(signed("quality:80/resize:fit:100", "local:///photo.jpg", "jpeg"))
    c = await client.get(signed("w:100", "local:///photo.jpg", "jpg", plain=True))
    assert a.status_code == b.status_code == c.status_code == 200
    assert a.headers["etag"] == b.headers["etag"] == c.headers["etag"]


async def test_head_has_headers_and_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head(signed("w:50", "local:///photo.jpg", "jpg"))
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0


async def test_disposition_when_asked(client: httpx.AsyncClient) -> None:
    r = await client.get(signed("fn:holiday/att:1", "local:///photo.jpg", "png"))
    assert r.headers["content-disposition"] == 'attachment; filename="holiday.png"'
    r = await client.get(signed("att:1", "local:///photo.jpg", "webp"))
    assert r.headers["content-disposition"] == 'attachment; filename="photo.webp"'
    r = await client.get(signed("w:10", "local:///photo.jpg", "png"))
    assert "content-disposition" not in r.headers


async def test_expires_caps_max_age_and_past_expiry_is_404(client: httpx.AsyncClient) -> None:
    import time

    soon = int(time.time()) + 100
    r = await client.get(signed(f"exp:{soon}/w:10", "local:///photo.jpg", "jpg"))
    max_age = int(r.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert 90 <= max_age <= 100
    r = await client.get(signed("exp:1000/w:10", "local:///photo.jpg", "jpg"))
    assert r.status_code == 404 and r.json()["error"] == "expired"


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        (signed("w:abc", "local:///photo.jpg"), 400, "bad_option"),
        (signed("nope:1", "local:///photo.jpg"), 400, "bad_option"),
        ("/badsig/w:10/plain/local:///photo.jpg", 403, "bad_signature"),
        ("/insecure/w:10/plain/local:///photo.jpg", 403, "bad_signature"),
        (signed("w:10", "local:///missing.jpg"), 404, "source_not_found"),
        (signed("w:10", "local:///../etc/passwd"), 403, "forbidden_source"),
        (signed("w:10", "local:///%2e%2e/etc/passwd", plain=True), 403, "forbidden_source"),
        (signed("w:10", "local:///text.txt"), 415, "unsupported"),
        (signed("w:10", "local:///cut.jpg", "png"), 415, "unsupported"),
        (signed("w:10", "local:///bomb.png"), 422, "over_limit"),
        (signed("w:10", "http://169.254.169.254/latest", plain=True), 403, "forbidden_source"),
        ("/", 400, "bad_request"),
        (signed("w:10", "s3://bucket/key.jpg", plain=True), 403, "forbidden_source"),  # off
        (signed("w:10", "gs://bucket/key.jpg", plain=True), 400, "bad_request"),
    ],
)
async def test_errors_are_precise(
    client: httpx.AsyncClient, path: str, status: int, error: str
) -> None:
    r = await client.get(path)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["status"] == status and body["message"]
    assert r.headers["cache-control"] == "public, max-age=10"


async def test_bad_option_message_names_option_shape_and_value(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(signed("width:abc", "local:///photo.jpg"))
    message = r.json()["message"]
    assert "width" in message and "abc" in message


async def test_result_dimension_limit(make_app: AppFactory) -> None:
    app = await make_app(limits={"max_result_dimension": 100})
    async with _client(app) as c:
        r = await c.get(signed("w:101/el:1", "local:///photo.jpg", "jpg"))
        assert r.status_code == 422 and "max_result_dimension" in r.json()["message"]


async def test_request_id_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/health")
    assert len(r.headers["x-request-id"]) == 24
    assert r.headers["x-request-id"] != (await client.get("/health")).headers["x-request-id"]


async def test_metrics_expose_requests_and_cache(client: httpx.AsyncClient) -> None:
    path = signed("w:30", "local:///photo.jpg", "jpg")
    await client.get(path)
    await client.get(path)
    await client.get(signed("w:30", "local:///missing.jpg"))
    text = (await client.get("/metrics")).text
    assert 'imgfleet_requests_total{route="image",status="200"} 2.0' in text
    assert 'imgfleet_cache_requests_total{result="hit"} 1.0' in text
    assert 'imgfleet_source_fetch_errors_total{reason="source_not_found"} 1.0' in text
    assert 'imgfleet_render_duration_seconds_count{format="jpeg"} 1.0' in text
    assert "imgfleet_renders_in_flight 0.0" in text


async def test_method_not_allowed(client: httpx.AsyncClient) -> None:
    r = await client.post("/health")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}


class CountingRender:
    """Wraps the app's render function; counts renders and can hold them at a gate."""

    def __init__(
        self, inner: Callable[[RenderJob], RenderResult], gate: threading.Event | None = None
    ) -> None:
        self.inner = inner
        self.renders = 0
        self.gate = gate

    def __call__(self, job: RenderJob) -> RenderResult:
        self.renders += 1
        if self.gate is not None:
            self.gate.wait(10)
        return self.inner(job)


def _client(app: AppUnderTest) -> httpx.AsyncClient:
    return app.client()


async def test_fifty_concurrent_identical_misses_render_once(make_app: AppFactory) -> None:
    app = await make_app()
    counter = CountingRender(app.delivery.render)
    app.delivery.render = counter
    path = signed("rs:fit:90:90", "local:///photo.jpg", "webp")
    async with _client(app) as c:
        responses = await asyncio.gather(*(c.get(path) for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.content for r in responses}) == 1
    assert counter.renders == 1


async def test_overload_gives_503_while_hits_keep_serving(make_app: AppFactory) -> None:
    app = await make_app(render={"workers": 1, "queue": 1, "retry_after": 2})
    gate = threading.Event()
    hot = signed("w:40", "local:///photo.jpg", "jpg")
    async with _client(app) as c:
        assert (await c.get(hot)).status_code == 200  # now cached
        app.delivery.render = CountingRender(app.delivery.render, gate)
        busy = [
            asyncio.create_task(c.get(signed(f"w:{n}", "local:///photo.jpg", "jpg")))
            for n in (11, 12)
        ]
        admission = app.delivery.admission
        await until(lambda: (admission.running, admission.queued) == (1, 1), "1 running, 1 queued")
        refused = await c.get(signed("w:13", "local:///photo.jpg", "jpg"))
        assert refused.status_code == 503
        assert 2 <= int(refused.headers["retry-after"]) <= 4  # jittered up to twice the setting
        assert refused.headers["cache-control"] == "no-store"
        hit = await c.get(hot)
        assert hit.status_code == 200
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]


async def test_a_client_that_leaves_drops_its_queued_render(make_app: AppFactory) -> None:
    """uvicorn does not cancel a request whose client left: the app must notice the
    http.disconnect itself, or the orphaned render keeps a queue place it will never use."""
    app = await make_app(render={"workers": 1, "queue": 4})
    gate = threading.Event()
    counter = CountingRender(app.delivery.render, gate)
    app.delivery.render = counter
    admission = app.delivery.admission
    leave = asyncio.Event()
    sent: list[dict[str, Any]] = []
    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        message = next(requests, None)
        if message is None:
            await leave.wait()
            return {"type": "http.disconnect"}
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = signed("w:21", "local:///photo.jpg", "jpg")
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "headers": [],
        "query_string": b"",
    }
    async with _client(app) as c:
        busy = asyncio.create_task(c.get(signed("w:20", "local:///photo.jpg", "jpg")))
        leaving = asyncio.create_task(app(scope, receive, send))
        await until(lambda: (admission.running, admission.queued) == (1, 1), "1 running, 1 queued")
        leave.set()
        await asyncio.wait_for(leaving, 5)
        await until(lambda: admission.queued == 0, "the queued render dropped")
        gate.set()
        assert (await busy).status_code == 200
    assert sent == []  # nobody to answer
    assert counter.renders == 1  # the queued render never ran
    metrics = app.metrics.exposition().decode()
    assert 'status="499"' in metrics


class CountingSource:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fetches = 0

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        self.fetches += 1
        return await self.inner.fetch(url, max_bytes)  # type: ignore[no-any-return]


async def test_several_renditions_of_one_source_fetch_it_once(make_app: AppFactory) -> None:
    app = await make_app()
    source = CountingSource(app.delivery.sources["local"])
    app.delivery.sources = {"local": source}
    async with _client(app) as c:
        sizes = [20, 30, 40, 50]
        responses = await asyncio.gather(
            *(c.get(signed(f"w:{w}", "local:///photo.jpg", "jpg")) for w in sizes)
        )
        responses.append(await c.get(signed("w:60", "local:///photo.jpg", "png")))
    assert [r.status_code for r in responses] == [200] * 5
    assert source.fetches == 1


async def test_source_cache_is_bounded(make_app: AppFactory) -> None:
    app = await make_app(sources={"cache_bytes": 1})  # too small to keep any source
    source = CountingSource(app.delivery.sources["local"])
    app.delivery.sources = {"local": source}
    async with _client(app) as c:
        for w in (20, 30):
            assert (await c.get(signed(f"w:{w}", "local:///photo.jpg", "jpg"))).status_code == 200
    assert source.fetches == 2


async def test_local_sources_off_without_a_root(make_app: AppFactory) -> None:
    app = await make_app(sources={"local_root": None})
    async with _client(app) as c:
        r = await c.get(signed("w:10", "local:///photo.jpg"))
    assert r.status_code == 403 and "IMGFLEET_SOURCES__LOCAL_ROOT" in r.json()["message"]


async def test_renders_in_worker_processes(make_app: AppFactory) -> None:
    app = await make_app(render={"isolation": "processes", "workers": 1})
    async with _client(app) as c:
        ok = await c.get(signed("rs:fill:60:40", "local:///photo.jpg", "png"))
        assert ok.status_code == 200
        image = pyvips.Image.new_from_buffer(ok.content, "")
        assert (image.width, image.height) == (60, 40)
        corrupt = await c.get(signed("w:10", "local:///cut.jpg", "png"))
        assert corrupt.status_code == 415  # errors cross the process boundary intact
        metrics = (await c.get("/metrics")).text
        assert 'imgfleet_render_duration_seconds_count{format="png"} 1.0' in metrics


@pytest.mark.parametrize("isolation", ["threads", "processes"])
async def test_a_corrupt_sources_libvips_warnings_are_counted_and_logged_once(
    make_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    isolation: str,
) -> None:
    """A truncated JPEG fails each of 50 requests (415, not cached) after libvips warned
    from its worker threads: every render's warnings are counted, one line names the
    source, none is logged as it came; from a render process as from a thread.

    How many times libvips warns per render depends on how many of its threads reach a
    bad tile before the render stops, so the counts are read from the renders themselves.
    """
    app = await make_app(render={"isolation": isolation, "workers": 1})
    per_render: list[int] = []
    count_warnings = app.metrics.render_warnings

    def counted(count: int) -> None:
        per_render.append(count)
        count_warnings(count)

    monkeypatch.setattr(app.metrics, "render_warnings", counted)
    cut = signed("w:300", "local:///cut.jpg", "png")  # under 2x: libvips decodes it
    with caplog.at_level(logging.WARNING):
        async with _client(app) as c:
            for _ in range(50):
                assert (await c.get(cut)).status_code == 415
            metrics = (await c.get("/metrics")).text
    assert len(per_render) == 50 and min(per_render) > 0
    assert f"imgfleet_vips_warnings_total {sum(per_render):.1f}" in metrics
    [line] = [vars(r) for r in caplog.records if r.name == "imgfleet.vips"]
    assert (line["source"], line["count"]) == ("local:///cut.jpg", per_render[0])
    assert any("error in tile" in m for m in line["messages"])
    assert [r.getMessage() for r in caplog.records if r.name == "pyvips"] == []


async def test_a_client_that_leaves_frees_its_queued_place(make_app: AppFactory) -> None:
    app = await make_app(render={"workers": 1, "queue": 1})
    gate = threading.Event()
    app.delivery.render = CountingRender(app.delivery.render, gate)
    admission = app.delivery.admission

    async with _client(app) as c:
        first = asyncio.create_task(c.get(signed("w:21", "local:///photo.jpg", "jpg")))
        await until(lambda: admission.running == 1, "the first render running")
        leaving = asyncio.create_task(c.get(signed("w:22", "local:///photo.jpg", "jpg")))
        await until(lambda: admission.queued == 1, "the second queued")
        leaving.cancel()
        await until(lambda: admission.queued == 0, "the place freed")
        third = asyncio.create_task(c.get(signed("w:23", "local:///photo.jpg", "jpg")))
        await until(lambda: admission.queued == 1, "the third admitted, not refused")
        gate.set()
        assert [(await t).status_code for t in (first, third)] == [200, 200]


async def test_a_bug_on_the_image_route_is_a_logged_500_and_serving_goes_on(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app()
    deliver = app.delivery.deliver

    async def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("a bug")

    app.delivery.deliver = broken  # type: ignore[method-assign, assignment]
    path = signed("w:15", "local:///photo.jpg", "jpg")
    async with _client(app) as c:
        with caplog.at_level(logging.ERROR, "imgfleet.error"):
            r = await c.get(path, headers={"x-request-id": "bug-2"})
        assert r.status_code == 500 and r.json() == {
            "status": 500, "error": "internal", "message": "internal error: KeyError"
        }  # fmt: skip
        assert r.headers["cache-control"] == "no-store"
        assert [rec.request_id for rec in caplog.records] == ["bug-2"]  # type: ignore[attr-defined]
        app.delivery.deliver = deliver  # type: ignore[method-assign]
        assert (await c.get(path)).status_code == 200


async def test_a_render_that_could_never_fit_the_memory_budget_is_refused_naming_it(
    make_app: AppFactory,
) -> None:
    app = await make_app(render={"memory_budget": 100_000_000})
    async with _client(app) as c:
        small = await c.get(signed("rs:fit:200:200", "local:///photo.jpg", "avif"))
        huge = await c.get(signed("rs:fit:8192:8192:1", "local:///photo.jpg", "avif"))
    assert small.status_code == 200
    assert huge.status_code == 422 and huge.json()["error"] == "over_limit"
    assert "the render memory budget is 95 MB" in huge.json()["message"]
