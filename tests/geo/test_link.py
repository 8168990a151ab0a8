"""The emulated WAN link: delay each way, order kept, bandwidth capped, cut and healed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from imgfleet.geo.link import Link, LinkConfig


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def started(echo: int, config: LinkConfig) -> Link:
    link = Link("test", ("127.0.0.1", echo), config)
    await link.start()
    return link


async def round_trip(port: int, data: bytes) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.monotonic()
    writer.write(data)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(data)), 10)
    writer.close()
    return got, time.monotonic() - began


async def test_a_round_trip_takes_the_rtt_and_bytes_keep_their_order(echo: int) -> None:
    link = await started(echo, LinkConfig(rtt=0.1))
    data = bytes(range(256)) * 4096  # 1 MiB, many reads
    got, seconds = await round_trip(link.port, data)
    assert got == data
    assert 0.1 <= seconds < 0.6
    await link.aclose()


async def test_the_bandwidth_cap_paces_each_direction(echo: int) -> None:
    link = await started(echo, LinkConfig(rtt=0.0, bandwidth=1_000_000))
    _, seconds = await round_trip(link.port, b"x" * 300_000)
    assert seconds >= 0.3  # 300 kB at 1 MB/s, each way overlapping
    await link.aclose()


async def test_a_cut_link_resets_its_connections_and_refuses_new_ones_until_healed(
    echo: int,
) -> None:
    link = await started(echo, LinkConfig(rtt=0.02))
    reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
    writer.write(b"before")
    assert await asyncio.wait_for(reader.readexactly(6), 5) == b"before"  # connected through
    link.set_cut(True)
    with pytest.raises(ConnectionError):
        while await asyncio.wait_for(reader.read(10), 5):
            pass
        raise ConnectionResetError  # an orderly close counts too
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await round_trip(link.port, b"during the cut")
    link.set_cut(False)
    got, _ = await round_trip(link.port, b"healed")
    assert got == b"healed"
    await link.aclose()
