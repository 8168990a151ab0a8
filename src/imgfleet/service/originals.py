"""An original brought into this region's blob store from a peer region, by hash."""

from __future__ import annotations

import asyncio
import logging

from imgfleet.core.assets import original_key, sha256_of
from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import BlobStore, Peers

log = logging.getLogger(__name__)


async def pull_original(peer: str, sha256: str, peers: Peers, blobs: BlobStore) -> int | None:
    """Bytes pulled from `peer` for the original `sha256` (0: it was here already), stored
    once verified; None when it could not be had now (logged)."""
    key = original_key(sha256)
    try:
        if await blobs.has(key):
            return 0
        data = await peers.original(peer, sha256)
        if data is None:
            log.warning("peer %s has no original %s", peer, sha256)
            return None
        if await asyncio.to_thread(sha256_of, data) != sha256:
            log.error("peer %s sent other bytes for original %s", peer, sha256)
            return None
        await blobs.put(key, data)
    except StorageUnavailable as error:
        log.info("original %s not pulled from %s: %s", sha256, peer, error)
        return None
    return len(data)
