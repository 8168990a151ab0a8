"""Two nodes of one region sharing a Redis region cache: what one renders, the other serves."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests import imagegen
from tests.app.conftest import KEY, SALT, app_under_test, make_settings, signed
from tests.contract.test_region_cache import REDIS, need_redis


async def test_a_rendition_made_by_one_node_is_served_by_the_other_without_a_render(
    tmp_path: Path,
) -> None:
    need_redis()
    images = tmp_path
    (images / "photo.jpg").write_bytes(imagegen.jpeg(400, 300))
    region = f"{REDIS}?prefix=imgfleet-test:{uuid.uuid4().hex}:"
    settings = make_settings(images, cache={"region": region})
    path = signed("rs:fill:64:48", "local:///photo.jpg", "webp")
    async with app_under_test(settings) as one, app_under_test(settings) as other:
        async with one.client() as a, other.client() as b:
            made = await a.get(path)
            served = await b.get(path)
        assert made.status_code == served.status_code == 200
        assert served.content == made.content and served.headers["etag"] == made.headers["etag"]
        renders = 'imgfleet_render_duration_seconds_count{format="webp"}'
        assert renders + " 1.0" in one.metrics.exposition().decode()
        exposition = other.metrics.exposition().decode()
        assert renders not in exposition
        assert 'imgfleet_region_cache_requests_total{result="hit"} 1.0' in exposition


def test_imgfleet_warm_renders_into_the_region_cache_for_every_node(tmp_path: Path) -> None:
    need_redis()
    (tmp_path / "photo.jpg").write_bytes(imagegen.jpeg(400, 300))
    region = f"{REDIS}?prefix=imgfleet-test:{uuid.uuid4().hex}:"
    settings = make_settings(tmp_path, cache={"region": region})
    paths = [signed("w:120", "local:///photo.jpg", "png"), signed("w:9", "local:///gone.jpg")]
    env = {
        **os.environ,
        "IMGFLEET_CACHE__REGION": region,
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(tmp_path),
        "IMGFLEET_SECURITY__KEYS": KEY.hex(),
        "IMGFLEET_SECURITY__SALTS": SALT.hex(),
    }
    warm = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "warm", "-"],
        input="\n".join(paths),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert warm.returncode == 1, warm.stderr  # one of the two failed
    lines = [json.loads(line) for line in warm.stdout.splitlines()]
    assert [(line["status"], line["cache"]) for line in lines] == [(200, "miss"), (404, None)]

    async def served() -> tuple[int, str]:
        async with app_under_test(settings) as node, node.client() as client:
            response = await client.get(paths[0])
            return response.status_code, response.headers["content-type"]

    assert asyncio.run(served()) == (200, "image/png")


def test_imgfleet_warm_needs_a_region_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLEET_")}
    warm = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "warm", "/x/w:1/plain/local:///a.jpg"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert warm.returncode == 1 and "set IMGFLEET_CACHE__REGION" in warm.stderr
