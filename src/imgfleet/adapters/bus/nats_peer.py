"""A peer region's changes, read from its JetStream stream over the WAN.

This region is a client of the peer's NATS server: a durable pull consumer named
`replica-<this region>` on the peer's stream `IMGFLEET_<PEER>`, with explicit acks. The
consumer lives on the peer's server and keeps our place there, so a restart of ours, or a cut
of the link, resumes where we left off; nothing is configured between the servers (no leaf
nodes, no gateways), and a region never reads anything but its peers' own writes, so no
event can loop. The peer also learns from it what we have applied: its ack floor is what a
write concern there waits for.

Not acked within `ACK_WAIT` (a crash, a slow pull of the original), an event comes again;
the merge is idempotent. A message that is no event is terminated (logged) rather than let
block the consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from imgfleet.adapters.bus.nats import REGION, REPLICA_PREFIX, stream_name
from imgfleet.core.asset_codec import decode_event
from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import Delivery

ACK_WAIT = 30.0  # seconds before an event not acked comes again
MAX_ACK_PENDING = 1_000  # events handed out and not yet acked

_log = logging.getLogger(__name__)


def consumer_name(region: str) -> str:
    """The durable consumer through which `region` reads a peer's stream."""
    return REPLICA_PREFIX + region


class NatsPeerFeed:
    def __init__(self, server: str, peer: str, region: str, *, timeout: float = 5.0) -> None:
        for name in (peer, region):
            if REGION.fullmatch(name) is None:
                raise ValueError(f"region: expected a-z, 0-9 and '-', received {name!r}")
        self._server = server
        self._peer = peer
        self._region = region
        self._timeout = timeout
        self._client: Client | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._messages: dict[int, Msg] = {}  # handed out, not yet acked, by stream sequence

    async def fetch(self, limit: int, wait: float) -> Sequence[Delivery]:
        try:
            subscription = await self._subscribed()
            try:
                messages = await subscription.fetch(limit, timeout=wait)
            except (TimeoutError, nats.errors.TimeoutError):
                return []
        except nats.js.errors.NotFoundError:
            self._subscription = None  # the peer has published nothing yet: no stream
            await asyncio.sleep(wait)
            return []
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise StorageUnavailable(f"peer {self._peer}: {type(error).__name__}") from error
        deliveries = []
        for message in messages:
            sequence = message.metadata.sequence.stream
            try:
                event = decode_event(message.data)
            except ValueError as error:
                _log.error(
                    "peer %s: message %d is no event, dropped: %s", self._peer, sequence, error
                )
                await self._settle(message.term())
                continue
            self._messages[sequence] = message
            deliveries.append(Delivery(event, sequence))
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        message = self._messages.pop(delivery.sequence, None)
        if message is not None:
            await self._settle(message.ack())  # not waited for: a lost ack only redelivers

    async def retry(self, delivery: Delivery, delay: float) -> None:
        message = self._messages.pop(delivery.sequence, None)
        if message is not None:
            await self._settle(message.nak(delay=delay))

    async def pending(self) -> int:
        """Events of the peer's stream not yet acked by us."""
        try:
            subscription = await self._subscribed()
            info = await subscription.consumer_info()
        except nats.js.errors.NotFoundError:
            return 0
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise StorageUnavailable(f"peer {self._peer}: {type(error).__name__}") from error
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def aclose(self) -> None:
        client, self._client, self._subscription = self._client, None, None
        self._messages.clear()
        if client is not None and not client.is_closed:
            await client.close()

    async def _subscribed(self) -> JetStreamContext.PullSubscription:
        if self._client is None or self._client.is_closed:
            self._client = await self._connect()
            self._subscription = None
        if self._subscription is None:
            js = self._client.jetstream(timeout=self._timeout)
            self._subscription = await js.pull_subscribe(
                f"imgfleet.{self._peer}.>",
                durable=consumer_name(self._region),
                stream=stream_name(self._peer),
                config=ConsumerConfig(
                    description=f"imgfleet: region {self._region} replicates {self._peer}",
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ACK_WAIT,
                    max_ack_pending=MAX_ACK_PENDING,
                ),
            )
        return self._subscription

    async def _connect(self) -> Client:
        client = Client()
        try:
            async with asyncio.timeout(self._timeout):
                await client.connect(
                    self._server,
                    name=f"imgfleet-{self._region}-replica-of-{self._peer}",
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._error,
                )
        except BaseException:
            await client.close()
            raise
        return client

    async def _settle(self, reply: Awaitable[object]) -> None:
        """An ack, nak or term, whose loss only means the event comes again."""
        try:
            await reply
        except (nats.errors.Error, OSError, TimeoutError) as error:
            _log.warning("peer %s: ack not sent (%r); the event will come again", self._peer, error)

    async def _error(self, error: Exception) -> None:
        _log.warning("peer %s: %r", self._peer, error)
