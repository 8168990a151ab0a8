"""The EventBus port: the in-process bus and NATS JetStream (a nats-server of the tests' own).

What the bus stored is read back independently of the adapter: the in-process bus through a
subscriber, JetStream from its stream on a connection of the test's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RawStreamMsg, RetentionPolicy, StorageType, StreamConfig

from imgfleet.adapters.bus.memory import InProcessEventBus
from imgfleet.adapters.bus.nats import STREAM_LIMITS, NatsEventBus, stream_name
from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.asset_codec import decode_event
from imgfleet.core.assets import Asset, AssetEvent, Event, EventType, KeyEvent, new_id
from imgfleet.core.errors import StorageUnavailable
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat
from imgfleet.ports import EventBus
from imgfleet.wiring.backends import EVENT_BUSES
from tests.nats_server import NatsServer, running_nats_server

T0 = 1_765_000_000_000  # ms


def event(n: int, kind: EventType = EventType.STORED) -> Event:
    event_id = new_id(T0 + n, n.to_bytes(10, "big"))
    if kind.subject == "keys":
        revoked = T0 / 1000 + 1 if kind is EventType.KEY_REVOKED else None
        key = ApiKey(f"key{n:09d}", "acme", frozenset({Scope.READ}), "ab" * 32, T0 / 1000, revoked)
        return KeyEvent(event_id, kind, key, Hlc(T0 + n, 0, "eu"))
    asset = Asset(
        id=new_id(T0, n.to_bytes(10, "big")),
        tenant="acme",
        sha256=f"{n:064x}",
        format=ImageFormat.JPEG,
        width=640,
        height=480,
        bytes=12345,
        created=T0 / 1000 + 0.25,
        home_region="eu",
        placeholder="3OcRJYB4d3h/iIeHeEh3eIhw+j2w",
        dominant_color="#a1b2c3",
        hlc=Hlc(T0 + n, n % 3, "eu"),
        tags=("cat", "ünïcode"),
        metadata=MappingProxyType({"alt": 'a cat, "quoted"', "n": str(n)}),
        deleted=T0 / 1000 + 1 if kind is EventType.DELETED else None,
    )
    return AssetEvent(event_id, kind, asset)


class Stream:
    """A region's stream, read on a connection of the test's own."""

    def __init__(self, js: JetStreamContext, region: str) -> None:
        self.js = js
        self.region = region
        self.name = stream_name(region)

    async def messages(self) -> list[RawStreamMsg]:
        found: list[RawStreamMsg] = []
        sequence = 1
        while True:
            try:
                message = await self.js.get_msg(
                    self.name,
                    seq=sequence,
                    subject=f"imgfleet.{self.region}.>",
                    next=True,
                )
            except nats.js.errors.NotFoundError:  # past the last message, or no stream
                return found
            found.append(message)
            sequence = (message.seq or sequence) + 1

    async def events(self) -> list[AssetEvent]:
        return [decode_event(message.data or b"") for message in await self.messages()]


async def _connected(server: NatsServer) -> Client:
    client = Client()
    await client.connect(server.url, allow_reconnect=False)
    return client


@pytest.fixture
async def reader(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await _connected(nats_server)
    yield client
    await client.close()


def region() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"  # a stream of each test's own on the shared server


@dataclass
class Case:
    bus: EventBus
    stored: Callable[[], Awaitable[list[AssetEvent]]]  # everything the bus kept, in order


@pytest.fixture(params=["memory", "nats"])
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    if request.param == "memory":
        bus = InProcessEventBus()
        subscriber = bus.subscribe()
        received: list[AssetEvent] = []

        async def delivered() -> list[AssetEvent]:
            received.extend(subscriber.take_queued())
            return list(received)

        yield Case(bus, delivered)
        await bus.aclose()
        return
    server: NatsServer = request.getfixturevalue("nats_server")
    client = await _connected(server)
    name = region()
    nats_bus = NatsEventBus.from_url(f"{server.url}?region={name}&timeout=5")
    yield Case(nats_bus, Stream(client.jetstream(), name).events)
    await nats_bus.aclose()
    await client.close()


# The contract: every adapter.


async def test_an_event_is_stored_once_with_its_body_intact(case: Case) -> None:
    await case.bus.publish(event(1))
    assert await case.stored() == [event(1)]


async def test_a_second_publish_of_an_event_id_is_dropped(case: Case) -> None:
    first, second = event(1), event(2)
    await case.bus.publish(first)
    await case.bus.publish(second)
    await case.bus.publish(first)
    await case.bus.publish(dataclasses.replace(first, type=EventType.UPDATED))  # same id
    assert await case.stored() == [first, second]


async def test_events_keep_their_order(case: Case) -> None:
    kinds = list(EventType)
    events = [event(n, kinds[n % len(kinds)]) for n in range(30)]
    for each in events:
        await case.bus.publish(each)
    assert await case.stored() == events


async def test_a_closed_bus_refuses_events(case: Case) -> None:
    await case.bus.publish(event(1))
    await case.bus.aclose()
    with pytest.raises(StorageUnavailable):
        await case.bus.publish(event(2))
    await case.bus.aclose()  # closing twice is no error


# The URLs.


async def test_the_scheme_picks_the_adapter() -> None:
    assert isinstance(EVENT_BUSES.open("memory://?queue=8&remember=16"), InProcessEventBus)
    bus = EVENT_BUSES.open("nats://127.0.0.1:1?region=eu-west&timeout=0.5")  # connects lazily
    assert isinstance(bus, NatsEventBus)
    await bus.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://h", "expected a URL starting memory://, nats://; received 'kafka://h'"),
        ("memory://?queue=0", "queue must be at least 1, received 0"),
        ("memory://?remember=many", "remember expects an integer, received 'many'"),
        ("memory://?size=3", "unknown option 'size' (options: queue, remember)"),
        ("nats://h:4222", "the option region is required"),
        ("nats://h?region=eu&tiemout=5", "unknown option 'tiemout' (options: region, timeout)"),
        ("nats://h?region=eu&timeout=0", "timeout must be more than 0, received '0'"),
        ("nats://h?region=EU", "region: expected lower-case letters, digits and '-'"),
        ("nats://h?region=us_east", "received 'us_east'"),
        ("nats://h?region=eu.west", "received 'eu.west'"),
        ("nats://h?region=", "received ''"),
        ("nats://?region=eu", "expected nats://host:port, received no host"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_option(url: str, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        EVENT_BUSES.open(url)
    assert str(bad.value).startswith("IMGFLEET_EVENTS__BUS: ") and message in str(bad.value)


# The in-process bus.


async def test_a_subscriber_waits_for_the_next_event() -> None:
    bus = InProcessEventBus()
    subscriber = bus.subscribe()
    waiting = asyncio.ensure_future(anext(subscriber))
    await asyncio.sleep(0)  # let it start waiting (a yield, not a timed sleep)
    assert not waiting.done()
    await bus.publish(event(1))
    assert await waiting == event(1)


async def test_a_subscriber_that_falls_behind_is_cut_off_not_the_publisher() -> None:
    bus = InProcessEventBus(queue=2)
    slow, keeping_up = bus.subscribe(), bus.subscribe()
    for n in range(4):
        await bus.publish(event(n))  # never waits for a subscriber
        assert keeping_up.take_queued() == [event(n)]
    assert [await anext(slow), await anext(slow)] == [event(0), event(1)]
    with pytest.raises(StorageUnavailable, match="fell 2 events behind"):
        await anext(slow)
    with pytest.raises(StorageUnavailable):
        slow.take_queued()
    await bus.publish(event(9))
    assert keeping_up.take_queued() == [event(9)]


async def test_only_the_last_remembered_ids_are_dropped_as_duplicates() -> None:
    bus = InProcessEventBus(remember=2)
    subscriber = bus.subscribe()
    for n in (1, 2, 3, 3, 1):
        await bus.publish(event(n))
    assert subscriber.take_queued() == [event(1), event(2), event(3), event(1)]


async def test_closing_the_bus_ends_subscriptions_after_what_was_queued() -> None:
    bus = InProcessEventBus()
    subscriber = bus.subscribe()
    await bus.publish(event(1))
    await bus.aclose()
    assert [each async for each in subscriber] == [event(1)]
    with pytest.raises(StorageUnavailable):
        bus.subscribe()


async def test_a_closed_subscription_gets_nothing_more() -> None:
    bus = InProcessEventBus()
    subscriber = bus.subscribe()
    await bus.publish(event(1))
    await subscriber.aclose()
    await bus.publish(event(2))
    assert [each async for each in subscriber] == []


# JetStream.


async def test_the_stream_subjects_and_headers_are_as_documented(
    nats_server: NatsServer, reader: Client
) -> None:
    name = region()
    bus = NatsEventBus.from_url(f"{nats_server.url}?region={name}")
    try:
        await bus.publish(event(1, EventType.DELETED))
    finally:
        await bus.aclose()
    stream = Stream(reader.jetstream(), name)
    assert stream.name == "IMGFLEET_" + name.upper().replace("-", "_")
    config = (await stream.js.stream_info(stream.name)).config
    assert config.subjects == [f"imgfleet.{name}.>"]
    assert (config.storage, config.retention, config.discard) == (
        StorageType.FILE,
        RetentionPolicy.LIMITS,
        DiscardPolicy.OLD,
    )
    limits = (config.duplicate_window, config.max_age, config.max_bytes, config.max_msg_size)
    assert limits == dataclasses.astuple(STREAM_LIMITS)
    [message] = await stream.messages()
    assert message.subject == f"imgfleet.{name}.assets.AssetDeleted"
    assert message.headers is not None and message.headers["Nats-Msg-Id"] == event(1).id


async def test_an_existing_stream_is_used_as_it_is(nats_server: NatsServer, reader: Client) -> None:
    name = region()
    js = reader.jetstream()
    tuned = StreamConfig(
        name=stream_name(name), subjects=[f"imgfleet.{name}.>"], max_age=60, duplicate_window=30
    )
    await js.add_stream(tuned)
    bus = NatsEventBus.from_url(f"{nats_server.url}?region={name}")
    try:
        await bus.publish(event(1))
    finally:
        await bus.aclose()
    config = (await js.stream_info(stream_name(name))).config
    assert (config.max_age, config.duplicate_window, config.storage) == (60, 30, "file")
    assert await Stream(js, name).events() == [event(1)]


async def test_a_missing_stream_is_unavailable_then_made_again(
    nats_server: NatsServer, reader: Client
) -> None:
    name = region()
    stream = Stream(reader.jetstream(), name)
    bus = NatsEventBus.from_url(f"{nats_server.url}?region={name}")
    try:
        await bus.publish(event(1))
        await stream.js.delete_stream(stream.name)
        with pytest.raises(StorageUnavailable, match="no stream"):
            await bus.publish(event(2))  # JetStream had no responder for the subject
        await bus.publish(event(2))
    finally:
        await bus.aclose()
    assert await stream.events() == [event(2)]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server this test alone may stop and start."""
    with running_nats_server(tmp_path) as server:
        yield server


async def test_a_server_that_went_down_is_unavailable_in_time_then_back(
    own_server: NatsServer,
) -> None:
    name = region()
    bus = NatsEventBus.from_url(f"{own_server.url}?region={name}&timeout=1")
    try:
        await bus.publish(event(1))
        own_server.stop(kill=True)
        for _ in range(2):  # the first call notices, the second finds it still away
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await bus.publish(event(2))
            assert time.monotonic() - started < 2.5  # the timeout, not a hang
        own_server.start()
        await _published_within(bus, event(2), seconds=15)
        await bus.publish(event(3))
    finally:
        await bus.aclose()
    client = await _connected(own_server)
    try:  # the publishes that timed out may have gone out on reconnect: kept once all the same
        assert await Stream(client.jetstream(), name).events() == [event(1), event(2), event(3)]
    finally:
        await client.close()


async def test_a_server_never_reached_is_unavailable_in_time() -> None:
    with socket.socket() as held:  # bound and never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        bus = NatsEventBus.from_url(
            f"nats://127.0.0.1:{held.getsockname()[1]}?region=eu&timeout=0.5"
        )
        try:
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(StorageUnavailable) as down:
                    await bus.publish(event(1))
                assert time.monotonic() - started < 2 and down.value.status == 503
        finally:
            await bus.aclose()


async def _published_within(bus: EventBus, one: AssetEvent, seconds: float) -> None:
    """Publish until the bus takes it; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await bus.publish(one)
            return
        except StorageUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
