"""URLs made by imgproxy's own client libraries verify and render unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import pyvips
from imgproxy import ImgProxy

from tests.app.conftest import KEY, SALT

CLIENTS = Path(__file__).parent.parent / "clients"


def node_urls(source: str) -> list[str]:
    node = shutil.which("node")
    installed = (CLIENTS / "node_modules" / "imgproxy").is_dir()
    if node is None or not installed:
        pytest.skip("node or the npm imgproxy client is not installed")
    out = subprocess.run(
        [node, "make_urls.mjs", KEY.hex(), SALT.hex(), source],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.split()


async def test_official_node_client_urls_render(client: httpx.AsyncClient) -> None:
    urls = node_urls("local:///photo.jpg")
    assert len(urls) == 12
    for url in urls:
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text)
        pyvips.Image.new_from_buffer(r.content, "")  # decodes


async def test_node_client_fill_with_dpr_has_exact_size(client: httpx.AsyncClient) -> None:
    url = node_urls("local:///photo.jpg")[0]  # rs:fill:300:200:0 / dpr:2 / webp
    r = await client.get(url)
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert r.headers["content-type"] == "image/webp"
    # 400x300 source, no enlarge: fill 600x400 at dpr 2 keeps the 3:2 crop inside the source
    assert image.width / image.height == pytest.approx(1.5, abs=0.01)


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"width": 100, "height": 100, "resizing_type": "fit"}, (100, 75)),
        ({"width": 80, "height": 80, "resizing_type": "fill", "gravity": "sm"}, (80, 80)),
        ({"width": 0, "height": 60}, (80, 60)),
    ],
)
async def test_pypi_client_urls_render(
    client: httpx.AsyncClient, params: dict[str, object], size: tuple[int, int]
) -> None:
    url = ImgProxy("local:///photo.jpg", key=KEY.hex(), salt=SALT.hex(), extension="png", **params)
    r = await client.get(str(url))
    assert r.status_code == 200, r.text
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == size
