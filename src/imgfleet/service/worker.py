"""Background work over the delivery service, in a process without a web shell.

Today that is warming: rendering a list of delivery paths ahead of their first request, so
that every node of the region serves them from the region cache. The job queue's consumer
(eager renditions of uploads, webhooks) joins it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from imgfleet.core.errors import ImgfleetError
from imgfleet.service.delivery import DeliveryService


@dataclass(frozen=True, slots=True)
class Warmed:
    path: str
    status: int  # 200, or the error's status
    tier: str | None  # where the rendition came from: "hit", "region" or "miss"
    detail: str  # the media type and size, or the error's message


class Worker:
    def __init__(self, delivery: DeliveryService, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency: expected at least 1, received {concurrency}")
        self.delivery = delivery
        self.concurrency = concurrency

    async def warm(self, paths: Iterable[str], accept: str = "") -> list[Warmed]:
        """Deliver each path once, `concurrency` at a time (the admission queue bounds the
        rest), in the order given; a failure is reported, never raised."""
        slots = asyncio.Semaphore(self.concurrency)

        async def one(path: str) -> Warmed:
            async with slots:
                try:
                    delivery = await self.delivery.deliver(path, accept)
                except ImgfleetError as error:
                    return Warmed(path, error.status, None, error.public_message)
            body = delivery.rendition
            detail = f"{body.media_type}, {len(body.body)} bytes"
            return Warmed(path, 200, delivery.tier.value, detail)

        return list(await asyncio.gather(*(one(path) for path in paths)))
