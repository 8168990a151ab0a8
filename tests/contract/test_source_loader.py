"""The SourceLoader port: one behaviour suite, run against every adapter and the test double
(the S3 one against SeaweedFS on loopback)."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imgfleet.adapters.source.http import HttpSource, HttpSourceConfig
from imgfleet.adapters.source.local import LocalSource
from imgfleet.adapters.source.s3 import S3Source, S3SourceConfig
from imgfleet.core.errors import SourceNotFound, TooLarge
from imgfleet.ports import SourceLoader
from imgfleet.testing import MemorySource
from tests.seaweedfs import SeaweedFs, aws_environment


@dataclass
class Case:
    loader: SourceLoader
    put: Callable[[str, bytes], str]  # stores bytes under a name, returns its URL


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_origin(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving `tmp_path`, bound to port 0."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["memory", "local", "http", "s3"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    if request.param == "memory":
        memory = MemorySource()

        def put_memory(name: str, data: bytes) -> str:
            memory.objects[f"mem:///{name}"] = data
            return f"mem:///{name}"

        yield Case(memory, put_memory)
        return

    def put_file(name: str, data: bytes) -> str:
        (tmp_path / name).write_bytes(data)
        return name

    if request.param == "local":
        yield Case(LocalSource(tmp_path), lambda n, d: "local:///" + put_file(n, d))
        return
    if request.param == "s3":
        seaweedfs: SeaweedFs = request.getfixturevalue("seaweedfs")
        aws_environment(request.getfixturevalue("monkeypatch"), seaweedfs.reader)  # reads only
        prefix = f"sources/{uuid.uuid4().hex}"  # each test has its own part of the bucket
        s3 = S3Source(
            S3SourceConfig(
                buckets=frozenset({seaweedfs.bucket}),
                endpoint=seaweedfs.endpoint,
                region=seaweedfs.region,
            )
        )

        def put_object(name: str, data: bytes) -> str:
            key = f"{prefix}/{name}"
            seaweedfs.client().put_object(Bucket=seaweedfs.bucket, Key=key, Body=data)
            return f"s3://{seaweedfs.bucket}/{key}"

        try:
            yield Case(s3, put_object)
        finally:
            await s3.aclose()
        return
    base = request.getfixturevalue("http_origin")
    config = HttpSourceConfig(allowed_prefixes=(base + "/",), allow_private_networks=True)
    source = HttpSource(config)
    try:
        yield Case(source, lambda n, d: f"{base}/{put_file(n, d)}")
    finally:
        await source.aclose()


async def test_a_stored_object_reads_back_byte_for_byte(case: Case) -> None:
    data = bytes(range(256)) * 40
    assert await case.loader.fetch(case.put("a.bin", data), max_bytes=len(data)) == data


async def test_an_empty_object_reads_as_empty(case: Case) -> None:
    assert await case.loader.fetch(case.put("empty.bin", b""), max_bytes=10) == b""


async def test_a_missing_object_is_not_found(case: Case) -> None:
    url = case.put("present.bin", b"x").replace("present", "absent")
    with pytest.raises(SourceNotFound) as missing:
        await case.loader.fetch(url, max_bytes=10)
    assert missing.value.status == 404


async def test_an_object_past_the_limit_is_too_large(case: Case) -> None:
    url = case.put("big.bin", b"y" * 101)
    with pytest.raises(TooLarge) as large:
        await case.loader.fetch(url, max_bytes=100)
    assert large.value.status == 413
    assert len(await case.loader.fetch(url, max_bytes=101)) == 101
