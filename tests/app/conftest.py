"""HTTP tests against the ASGI app in-process, with images the tests generate."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgfleet.core.signing import sign
from imgfleet.http.app import App
from imgfleet.settings import Settings
from imgfleet.wiring import build_app
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
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return Settings(**base)


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(images: Path) -> AppFactory:
    def factory(**sections: dict[str, Any]) -> App:
        return build_app(make_settings(images, **sections))

    return factory


@pytest.fixture
async def client(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://imgfleet.test"
    ) as c:
        yield c
    app.delivery.admission.shutdown()


def signed(options: str, source: str, ext: str | None = None, plain: bool = False) -> str:
    """A signed path for `source` with `options` ("" for none)."""
    if plain:
        tail = "plain/" + source + (f"@{ext}" if ext else "")
    else:
        tail = base64.urlsafe_b64encode(source.encode()).decode().rstrip("=")
        tail += f".{ext}" if ext else ""
    path = "/" + "/".join(p for p in (options, tail) if p)
    return "/" + sign(path, KEY, SALT) + path
