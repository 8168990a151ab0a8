"""Pull-through reads: a region asked for an asset it does not hold (yet) asks its peers.

Peers are asked nearest first; if the nearest has not answered within `hedge_after`, the
next is asked too, and so on: the first that holds the asset wins, the others are
cancelled. Its original is pulled from that peer, verified against its sha256 and stored,
then its record is merged like a replicated event (`MetadataStore.apply`), so a tombstone
this region already holds, or one that arrives later, still wins: a pull never brings a
deleted asset back. A peer that fails or times out counts as not holding it; a peer whose
circuit is open (`ports.Peers`) is skipped at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from imgfleet.core.assets import Asset, AssetEvent, EventType, new_id
from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import BlobStore, Clock, MetadataStore, Peers
from imgfleet.service.originals import pull_original

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PullCounts:
    pulled: dict[str, int] = field(default_factory=dict)  # assets pulled, by peer
    missed: int = 0  # asked, and no peer held it
    # By peer: asked while a nearer one had not answered yet (a hedge), and answered in
    # place of the nearest (which failed, was slow or lacked it).
    hedged: dict[str, int] = field(default_factory=dict)
    failovers: dict[str, int] = field(default_factory=dict)


class PullThrough:
    def __init__(
        self,
        peers: Sequence[str],
        client: Peers,
        *,
        store: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        hedge_after: float,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.peers = tuple(peers)  # nearest first
        self.client = client
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.hedge_after = hedge_after
        self.entropy = entropy
        self.counts = PullCounts()

    async def __call__(self, asset_id: str) -> Asset | None:
        """The asset as this region now holds it, pulled from the first peer that has it;
        None when no reachable peer does."""
        found = await self._ask(asset_id)
        if found is None:
            self.counts.missed += 1
            return None
        return await self._take(*found)

    async def from_peer(self, peer: str, asset_id: str) -> Asset | None:
        """The asset as this region holds it after taking `peer`'s copy (read repair: the
        peer is the home region of a write this region has not applied yet)."""
        asset = await self._record(peer, asset_id)
        return None if asset is None else await self._take(peer, asset)

    async def _take(self, peer: str, asset: Asset) -> Asset | None:
        """Merge the peer's copy, its original first; what this region holds after."""
        if asset.live and await pull_original(peer, asset.sha256, self.client, self.blobs) is None:
            return None
        kind = EventType.STORED if asset.live else EventType.DELETED
        event = AssetEvent(new_id(int(self.clock.time() * 1000), self.entropy(10)), kind, asset)
        await self.store.apply(event)
        _count(self.counts.pulled, peer)
        return await self.store.asset(asset.id)

    async def _ask(self, asset_id: str) -> tuple[str, Asset] | None:
        waiting = list(self.peers)
        asking: dict[asyncio.Task[Asset | None], str] = {}
        try:
            while waiting or asking:
                if waiting:
                    peer = waiting.pop(0)
                    if asking:
                        _count(self.counts.hedged, peer)
                    asking[asyncio.create_task(self._record(peer, asset_id))] = peer
                done, _ = await asyncio.wait(
                    asking,
                    timeout=self.hedge_after if waiting else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    peer = asking.pop(task)
                    asset = task.result()
                    if asset is not None:
                        if peer != self.peers[0]:
                            _count(self.counts.failovers, peer)
                        return peer, asset
            return None
        finally:
            for task in asking:
                task.cancel()

    async def _record(self, peer: str, asset_id: str) -> Asset | None:
        try:
            return await self.client.asset(peer, asset_id)
        except StorageUnavailable as error:
            log.info("pull-through of asset %s: %s", asset_id, error)
            return None


def _count(counts: dict[str, int], peer: str) -> None:
    counts[peer] = counts.get(peer, 0) + 1
