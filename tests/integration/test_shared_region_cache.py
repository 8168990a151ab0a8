"""Two nodes of one region sharing a Redis region cache: what one renders, the other serves."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests import imagegen
from tests.app.conftest import app_under_test, make_settings, signed
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
