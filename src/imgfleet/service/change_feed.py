"""The region's change feed, tailed by every node: what another node of the region changed
reaches this one's memory within one poll interval (a deleted asset's renditions dropped,
a changed asset's record forgotten). It reads the metadata store's outbox, so it needs no
other service than the one the region already shares."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from imgfleet.core.assets import AssetEvent
from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import MetadataStore

log = logging.getLogger(__name__)

BATCH = 500


class ChangeFeed:
    def __init__(
        self, store: MetadataStore, forget: Callable[[str], object], interval: float
    ) -> None:
        self.store = store
        self.forget = forget  # told the id of each asset that changed
        self.interval = interval
        self.position: int | None = None  # None: not started; then the last change seen

    async def poll(self) -> int:
        """Apply the changes since the last poll; how many there were."""
        if self.position is None:
            self.position = await self.store.last_position()  # memory starts empty
            return 0
        changes = await self.store.changes(self.position, BATCH)
        for change in changes:
            if isinstance(change.event, AssetEvent):
                self.forget(change.event.asset.id)
            self.position = change.position
        return len(changes)

    async def run(self) -> None:
        while True:
            try:
                if await self.poll() == BATCH:
                    continue
            except StorageUnavailable as error:
                log.warning("change feed: %s", error)
            await asyncio.sleep(self.interval)
