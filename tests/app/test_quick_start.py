"""The README's quick-start request answers with an image, on what `scripts/serve` sets up:
no keys, and the repository's samples/ as the local root."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pyvips

from imgfleet.settings import Settings
from tests.app.conftest import app_under_test

REPO = Path(__file__).resolve().parents[2]


def quick_start_urls() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"curl .*?(http://\S+)", section)


async def test_readme_quick_start_request_returns_an_image() -> None:
    urls = quick_start_urls()
    assert urls, "the README's quick start shows no request"
    settings = Settings(sources={"local_root": REPO / "samples"}, server={"access_log": False})
    async with app_under_test(settings) as app, app.client() as client:
        for url in urls:
            r = await client.get(urlsplit(url).path)
            assert r.status_code == 200, (url, r.text)
            ext = url.rsplit("@", 1)[1]
            assert r.headers["content-type"] == f"image/{ext}"
            image = pyvips.Image.new_from_buffer(r.content, "")
            fill = re.search(r"rs:fill:(\d+):(\d+)", url)
            if fill:
                assert (image.width, image.height) == (int(fill[1]), int(fill[2]))
