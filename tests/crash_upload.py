"""Run one upload in this process and die by SIGKILL at a chosen point of it:

    python -m tests.crash_upload POINT DATA_FOLDER

POINT: `blob-temp` (the original's bytes written to a temp file, not yet renamed over their
key), `blob-stored` (the original stored, its metadata not yet committed), `committed` (the
metadata committed, the answer not yet sent). Exits 3 if the upload ever finishes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from imgfleet.settings import Settings
from imgfleet.wiring.dependencies import open_dependencies
from tests import imagegen


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(point: str, data: str) -> None:
    settings = Settings(storage={"data": data}, render={"isolation": "threads"})
    async with open_dependencies(settings) as deps:
        assets = deps.assets
        if point == "blob-temp":
            real_replace = os.replace

            def replace(source: Any, target: Any) -> None:
                if str(target).rpartition("/")[2] != "imgfleet.db":
                    die()
                real_replace(source, target)

            os.replace = replace  # type: ignore[assignment]
        elif point == "blob-stored":
            put = assets.blobs.put

            async def put_then_die(key: str, blob: bytes) -> None:
                await put(key, blob)
                die()

            assets.blobs.put = put_then_die  # type: ignore[method-assign]
        elif point == "committed":
            insert = assets.store.insert_asset

            async def insert_then_die(*args: Any, **kwargs: Any) -> Any:
                await insert(*args, **kwargs)
                die()

            assets.store.insert_asset = insert_then_die  # type: ignore[method-assign]
        else:
            raise SystemExit(f"unknown point {point!r}")
        await assets.upload("acme", imagegen.jpeg(320, 240), "image/jpeg", None)
    sys.exit(3)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
