"""`nats://host:port?region=R&timeout=S`: a region's events in its JetStream stream.

An event goes to subject `imgfleet.<region>.<assets|keys>.<EventType>` with header `Nats-Msg-Id`
set to the event id, into stream `IMGFLEET_<REGION>` (upper case, `-` as `_`), which takes
`imgfleet.<region>.>`. The stream is created at connect when missing, with `STREAM_LIMITS`;
an existing stream is used as it is (an operator may have tuned it).

A publish returns once JetStream has stored the event (or found it a duplicate): the whole
call, connect included, has `timeout` seconds, and NATS' failures, timeouts and a missing
stream (no responders) raise `StorageUnavailable`. The connection is made at the first
publish and then kept; nats-py reconnects by itself, for as long as it takes. While it is
away, nats-py buffers what is published and sends it on reconnect, so an event reported
unavailable may still be stored later: the relay's retry of it carries the same
`Nats-Msg-Id` and JetStream drops it within the duplicate window.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from imgfleet.core.asset_codec import encode_event
from imgfleet.core.assets import Event
from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.errors import StorageUnavailable

OPTIONS = {"region", "timeout"}
DEFAULT_TIMEOUT = 5.0
# A region is a subject token and part of a stream name; the same shape as the HLC's region.
# No `_`: "us-east" and "us_east" would name the same stream.
REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What a region's stream keeps, when this adapter creates it."""

    # Long enough for a relay that published, crashed before marking the event published,
    # and restarted to retry it as a duplicate; consumers apply events idempotently anyway.
    duplicate_window: float = 10 * 60
    # A region cut off for up to a week catches up from the stream; after longer, or past
    # max_bytes (about a million events), it resyncs instead. The oldest events go first.
    max_age: float = 7 * 24 * 3600
    max_bytes: int = 1024**3
    # The server's default max_payload: an event is one asset record (a few KiB at most).
    max_msg_size: int = 1024**2


STREAM_LIMITS = StreamLimits()
REPLICA_PREFIX = "replica-"  # a peer's durable consumer on our stream: replica-<peer region>


def stream_name(region: str) -> str:
    return "IMGFLEET_" + region.upper().replace("-", "_")


def subject(region: str, event: Event) -> str:
    return f"imgfleet.{region}.{event.type.subject}.{event.type.value}"


class NatsEventBus:
    def __init__(self, server: str, region: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if REGION.fullmatch(region) is None:
            raise ValueError(
                f"region: expected lower-case letters, digits and '-', received {region!r}"
            )
        self._server = server
        self._region = region
        self._stream = stream_name(region)
        self._timeout = timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._connecting = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> NatsEventBus:
        parsed = BackendUrl.parse(url, OPTIONS)
        if parsed.host is None:
            raise ValueError(f"{url!r}: expected nats://host:port, received no host")
        region = parsed.options.get("region")
        if region is None:
            raise ValueError(f"{url!r}: the option region is required (it names the stream)")
        timeout = parsed.seconds("timeout", DEFAULT_TIMEOUT)
        try:
            return cls(parsed.without_options(), region, timeout=timeout)
        except ValueError as error:
            raise ValueError(f"{url!r}: {error}") from None

    async def publish(self, event: Event) -> int:
        if self._closed:
            raise StorageUnavailable("event bus: closed")
        try:
            async with asyncio.timeout(self._timeout):
                js = await self._jetstream()
                ack = await js.publish(
                    subject(self._region, event),
                    encode_event(event),
                    timeout=self._timeout,
                    stream=self._stream,  # refused unless our stream takes it
                    headers={"Nats-Msg-Id": event.id},
                )
        except nats.js.errors.NoStreamResponseError as error:
            self._stream_ready = False  # deleted, or a server without it: create it again
            raise StorageUnavailable(f"event bus: no stream for {self._region}") from error
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise StorageUnavailable(f"event bus: {type(error).__name__}") from error
        return int(ack.seq)  # a duplicate's ack carries the first's sequence

    async def applied_by(self, sequence: int) -> frozenset[str]:
        """Peers whose consumer (`replica-<peer>`, `adapters.bus.nats_peer`) on our stream
        has acked every event up to `sequence`: they ack an event once it is applied."""
        try:
            async with asyncio.timeout(self._timeout):
                js = await self._jetstream()
                consumers = await js.consumers_info(self._stream)
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise StorageUnavailable(f"event bus: {type(error).__name__}") from error
        return frozenset(
            info.name.removeprefix(REPLICA_PREFIX)
            for info in consumers
            if info.name.startswith(REPLICA_PREFIX)
            and info.ack_floor is not None
            and (info.ack_floor.stream_seq or 0) >= sequence
        )

    async def check(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._jetstream()
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise StorageUnavailable(f"event bus: {type(error).__name__}") from error
        if self._client is None or not self._client.is_connected:
            raise StorageUnavailable("event bus: not connected")

    async def aclose(self) -> None:
        """Send what is buffered and close; a connection that is away is just closed."""
        self._closed = True
        client, self._client, self._js = self._client, None, None
        if client is None or client.is_closed:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await client.drain()
        except (nats.errors.Error, OSError, TimeoutError):
            await client.close()

    async def _jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting and creating the stream first when needed."""
        async with self._connecting:
            if self._client is None or self._client.is_closed or self._js is None:
                self._client, self._js = await self._connect()
                self._stream_ready = False
            if not self._stream_ready:
                await self._ensure_stream(self._js)
                self._stream_ready = True
            return self._js

    async def _connect(self) -> tuple[Client, JetStreamContext]:
        client = Client()
        try:
            await client.connect(
                self._server,
                name=f"imgfleet-{self._region}",
                max_reconnect_attempts=-1,  # a bus that was away comes back by itself
                error_cb=_log_error,
                disconnected_cb=self._disconnected,
                reconnected_cb=self._reconnected,
            )
        except BaseException:  # the caller's timeout too: stop the connect loop
            await client.close()
            raise
        return client, client.jetstream(timeout=self._timeout)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self._stream,
                    description=f"imgfleet: the asset events of region {self._region}",
                    subjects=[f"imgfleet.{self._region}.>"],
                    storage=StorageType.FILE,
                    retention=RetentionPolicy.LIMITS,
                    discard=DiscardPolicy.OLD,
                    duplicate_window=STREAM_LIMITS.duplicate_window,
                    max_age=STREAM_LIMITS.max_age,
                    max_bytes=STREAM_LIMITS.max_bytes,
                    max_msg_size=STREAM_LIMITS.max_msg_size,
                )
            )

    async def _disconnected(self) -> None:
        if not self._closed:
            _log.warning("event bus: disconnected from %s", self._server)

    async def _reconnected(self) -> None:
        _log.info("event bus: reconnected to %s", self._server)


async def _log_error(error: Exception) -> None:
    """nats-py's own callback logs a traceback at every reconnect attempt: one line instead."""
    _log.warning("event bus: %r", error)
