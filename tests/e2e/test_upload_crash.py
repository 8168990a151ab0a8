"""An upload killed at each point of its writes leaves no metadata without its original, and
the collector removes an original that no metadata names."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imgfleet.adapters.clock import SystemClock
from imgfleet.core.assets import ORIGINALS, original_key
from imgfleet.service.collector import Collector
from imgfleet.settings import Settings
from imgfleet.wiring.dependencies import open_dependencies


def crash(point: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_upload", point, str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("point", "stored"), [("blob-temp", False), ("blob-stored", False), ("committed", True)]
)
async def test_an_upload_killed_midway_leaves_nothing_half_written(
    tmp_path: Path, point: str, stored: bool
) -> None:
    data = tmp_path / "data"
    crashed = crash(point, data)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    settings = Settings(storage={"data": str(data)}, render={"isolation": "threads"})
    async with open_dependencies(settings) as deps:
        store, blobs = deps.assets.store, deps.assets.blobs
        assets = await store.assets("acme", None, 10)
        originals = [blob.key async for blob in blobs.list(ORIGINALS)]
        assert len(assets) == (1 if stored else 0)
        for asset in assets:  # committed metadata always has its verified bytes
            assert await blobs.get(original_key(asset.sha256), sha256=asset.sha256) is not None
        assert len(originals) == (0 if point == "blob-temp" else 1)

        collector = Collector(store, blobs, SystemClock(), grace=0.0, interval=60)
        removed = await collector.collect_once()
        assert removed == (1 if point == "blob-stored" else 0)
        left = [blob.key async for blob in blobs.list(ORIGINALS)]
        assert left == [original_key(asset.sha256) for asset in assets]
