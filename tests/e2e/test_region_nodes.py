"""One region, two nodes: two `imgfleet serve` processes sharing PostgreSQL, Redis and
SeaweedFS. What one node is asked, the other answers from the region's shared state."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx

from tests import imagegen
from tests.contract.test_region_cache import REDIS, need_redis
from tests.postgres import postgres_schema
from tests.seaweedfs import SeaweedFs
from tests.serving_process import bearer, serve_process
from tests.waiting import until_blocking

KEY, SALT = b"region-key", b"region-salt"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A schema of the test database for this test (dropped after), as a blocking context."""
    manager = postgres_schema()
    loop = asyncio.new_event_loop()
    try:
        url = loop.run_until_complete(manager.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(manager.__aexit__(None, None, None))
    finally:
        loop.close()


def renders(base: str) -> float:
    """Renders the node has done, from its /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("imgfleet_render_duration_seconds_count")
    )


def test_two_nodes_share_assets_renditions_and_deletes(seaweedfs: SeaweedFs) -> None:
    need_redis()
    run = uuid.uuid4().hex[:12]
    with ExitStack() as stack:
        metadata = stack.enter_context(postgres_database())
        env = {
            **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
            "AWS_ACCESS_KEY_ID": seaweedfs.admin.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweedfs.admin.secret_key,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "IMGFLEET_STORAGE__METADATA": metadata,
            "IMGFLEET_STORAGE__BLOBS": seaweedfs.url(f"nodes_{run}"),
            "IMGFLEET_CACHE__REGION": f"{REDIS}?prefix=imgfleet-test:{run}:",
            "IMGFLEET_SECURITY__KEYS": KEY.hex(),
            "IMGFLEET_SECURITY__SALTS": SALT.hex(),
            "IMGFLEET_RENDER__ISOLATION": "threads",
            "IMGFLEET_SERVER__ACCESS_LOG": "false",
        }
        auth = bearer(env)
        first, _ = stack.enter_context(serve_process(env))
        second, _ = stack.enter_context(serve_process(env))

        # An asset uploaded through one node is delivered by the other.
        answer = httpx.post(
            f"{first}/v1/assets",
            content=imagegen.jpeg(640, 480),
            headers={**auth, "content-type": "image/jpeg"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        asset = answer.json()
        assert asset["urls"]["default"].startswith(first + "/")
        path = asset["urls"]["default"].removeprefix(first + "/")
        read = httpx.get(f"{second}/v1/assets/{asset['id']}", headers=auth, timeout=5)
        assert read.status_code == 200 and read.json()["sha256"] == asset["sha256"]

        # A rendition made by one is served by the other without a render.
        made = httpx.get(f"{first}/{path}", timeout=10)
        assert made.status_code == 200 and renders(first) == 1
        served = httpx.get(f"{second}/{path}", timeout=10)
        assert served.status_code == 200 and served.content == made.content
        assert renders(second) == 0
        assert httpx.get(f"{second}/{path}", timeout=5).status_code == 200  # in its memory now

        # A delete through one is refused by the other within a second.
        deleted = httpx.delete(f"{first}/v1/assets/{asset['id']}", headers=auth, timeout=10)
        assert deleted.status_code == 204
        at = time.monotonic()
        until_blocking(
            lambda: httpx.get(f"{second}/{path}", timeout=5).status_code == 410,
            "the other node to refuse the deleted asset's URL",
            1.0,
        )
        assert time.monotonic() - at <= 1.0
        assert httpx.get(f"{first}/{path}", timeout=5).status_code == 410
