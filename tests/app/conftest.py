"""HTTP tests against the ASGI app in-process, with images the tests generate."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgfleet.core.signing import sign
from imgfleet.http.app import App
from imgfleet.http.asgi import Receive, Scope, Send
from imgfleet.metrics import Metrics
from imgfleet.ports import Engine
from imgfleet.service.delivery import DeliveryService
from imgfleet.settings import Settings
from imgfleet.wiring.app import build_app
from imgfleet.wiring.dependencies import Dependencies, open_dependencies
from tests import imagegen

KEY, SALT = b"secret", b"hello"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    (root / "photo.jpg").write_bytes(imagegen.jpeg(400, 300))
    (root / "alpha.png").write_bytes(imagegen.png(200, 100, alpha=True))
    (root / "anim.gif").write_bytes(imagegen.gif_animated(40, 30, 4))
    (root / "bomb.png").write_bytes(imagegen.png_bomb())
    (root / "text.txt").write_bytes(b"not an image at all")
    (root / "cut.jpg").write_bytes(imagegen.truncated(imagegen.jpeg(400, 300)))
    return root


def make_settings(root: Path, **sections: dict[str, Any]) -> Settings:
    base: dict[str, Any] = {
        "security": {"keys": KEY.hex(), "salts": SALT.hex()},
        "sources": {"local_root": str(root)},
        "server": {"access_log": False},
        # Threads start in no time; tests/app/test_delivery.py and tests/e2e cover processes.
        "render": {"isolation": "threads"},
        "storage": {"data": str(root.parent / "data")},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Settings(**base)


@dataclass(frozen=True, slots=True)
class AppUnderTest:
    """The ASGI app with the dependencies it was built over, open while the test runs."""

    app: App
    deps: Dependencies

    @property
    def delivery(self) -> DeliveryService:
        return self.deps.delivery

    @property
    def metrics(self) -> Metrics:
        return self.deps.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://imgfleet.test"
        )


@asynccontextmanager
async def app_under_test(
    settings: Settings, engine: Engine | None = None
) -> AsyncIterator[AppUnderTest]:
    async with open_dependencies(settings, engine=engine) as deps:
        yield AppUnderTest(build_app(deps), deps)


AppFactory = Callable[..., Awaitable[AppUnderTest]]


@pytest.fixture
async def make_app(images: Path) -> AsyncIterator[AppFactory]:
    """Builds apps with settings sections changed; each stays open until the test ends."""
    async with AsyncExitStack() as stack:

        async def factory(**sections: dict[str, Any]) -> AppUnderTest:
            settings = make_settings(images, **sections)
            return await stack.enter_async_context(app_under_test(settings))

        yield factory


@pytest.fixture
async def client(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = await make_app()
    async with app.client() as c:
        yield c


def signed(options: str, source: str, ext: str | None = None, plain: bool = False) -> str:
    """A signed path for `source` with `options` ("" for none)."""
    if plain:
        tail = "plain/" + source + (f"@{ext}" if ext else "")
    else:
        tail = base64.urlsafe_b64encode(source.encode()).decode().rstrip("=")
        tail += f".{ext}" if ext else ""
    path = "/" + "/".join(p for p in (options, tail) if p)
    return "/" + sign(path, KEY, SALT) + path
