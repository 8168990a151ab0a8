"""Property tests over the whole HTTP path: no input yields a 500 or a crash."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import imagegen
from tests.app.conftest import AppUnderTest, app_under_test, make_settings, signed

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
OPTION_WORDS = [
    "rs",
    "fill",
    "fit",
    "w",
    "h",
    "g",
    "sm",
    "c",
    "q",
    "f",
    "bl",
    "pd",
    "ex",
    "1",
    "0",
    "-5",
    "9999999",
    "png",
    "webp",
    "avif",
    "exp",
    "fn",
    "t",
    "pr",
    "dpr",
    "z",
]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


AppOpener = Callable[..., AppUnderTest]
EXAMPLES = itertools.count()


@pytest.fixture
def open_app(images: Path, loop: asyncio.AbstractEventLoop) -> Iterator[AppOpener]:
    """One app per set of settings sections for the whole test (every example shares it)."""
    stack = AsyncExitStack()
    apps: dict[str, AppUnderTest] = {}

    def opened(**sections: dict[str, object]) -> AppUnderTest:
        key = repr(sorted(sections.items()))
        if key not in apps:
            context = app_under_test(make_settings(images, **sections))
            app = loop.run_until_complete(stack.enter_async_context(context))
            app.app.readiness.ready = True  # as after the server's start: /ready is 200
            apps[key] = app
        return apps[key]

    yield opened
    loop.run_until_complete(stack.aclose())


def fetch(loop: asyncio.AbstractEventLoop, app: AppUnderTest, path: str) -> tuple[int, bytes]:
    """Call the ASGI app directly, so paths no HTTP client would send still arrive."""
    raw_path = path.encode("utf-8", "surrogateescape")
    scope = {
        "type": "http",
        "method": "GET",
        "path": unquote(path, errors="surrogateescape"),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": [],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    loop.run_until_complete(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


option = st.builds(
    lambda name, args: ":".join([name, *args]),
    st.sampled_from(OPTION_WORDS),
    st.lists(
        st.sampled_from(OPTION_WORDS)
        | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="?#"), max_size=6),
        max_size=4,
    ),
)


@PROPERTY_SETTINGS
@given(
    options=st.lists(option, max_size=5),
    source=st.sampled_from(
        ["local:///photo.jpg", "local:///alpha.png", "local:///anim.gif", "local:///nope.jpg"]
    ),
)
def test_signed_random_options_never_fail_the_server(
    loop: asyncio.AbstractEventLoop, open_app: AppOpener, options: list[str], source: str
) -> None:
    app = open_app(limits={"max_result_dimension": 2000})
    status, body = fetch(loop, app, signed("/".join(options), source))
    assert status in {200, 400, 404, 415, 422}, body


@PROPERTY_SETTINGS
@given(path=st.text(max_size=80))
def test_arbitrary_paths_never_fail_the_server(
    loop: asyncio.AbstractEventLoop, open_app: AppOpener, path: str
) -> None:
    app = open_app(security={"keys": "", "salts": ""})
    status, body = fetch(loop, app, "/" + path)
    assert status < 500, body


@PROPERTY_SETTINGS
@given(data=st.data())
def test_corrupted_images_give_4xx_not_500(
    loop: asyncio.AbstractEventLoop, open_app: AppOpener, images: Path, data: st.DataObject
) -> None:
    original = data.draw(st.sampled_from(CORPUS))
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    # A new name per example: the shared app caches sources and renditions by URL.
    name = f"damaged-{next(EXAMPLES)}"
    (images / name).write_bytes(bytes(damaged[:cut]))
    ext = data.draw(st.sampled_from(["jpg", "png", "webp", "gif"]))
    status, body = fetch(loop, open_app(), signed("rs:fit:50:50", f"local:///{name}", ext))
    assert status in {200, 415, 422}, body


CORPUS = [
    imagegen.jpeg(40, 30),
    imagegen.progressive_jpeg(40, 30),
    imagegen.png(40, 30, alpha=True),
    imagegen.png(40, 30, bits16=True),
    imagegen.webp(40, 30),
    imagegen.gif_animated(20, 10, 3),
    imagegen.tiff(40, 30),
    imagegen.avif(40, 30),
]
