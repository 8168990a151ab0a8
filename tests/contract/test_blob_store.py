"""The BlobStore port: in memory, on a filesystem, and in S3 (SeaweedFS on loopback).

One behaviour suite runs against every adapter; what only one adapter can show (a write
failing midway on disk, S3 refusing credentials or not answering) follows it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiobotocore.session import AioSession

from imgfleet.adapters.blob.fs import INLINE_BYTES, STALE_AFTER, FsBlobStore
from imgfleet.adapters.blob.memory import MemoryBlobStore
from imgfleet.adapters.blob.s3 import MIN_PART_SIZE, S3BlobStore, S3Config
from imgfleet.core.assets import original_key, rendition_key, rendition_prefix
from imgfleet.core.blobs import MAX_SEGMENT_LENGTH
from imgfleet.core.errors import BlobCorrupt, StorageDenied, StorageUnavailable
from imgfleet.ports import BlobInfo, BlobStore
from tests.seaweedfs import Identity, SeaweedFs, aws_environment

ASSET = "01jdq3v5c8x9k2m4n6p8r0s2t4"
BIG = random.Random(7).randbytes(MIN_PART_SIZE + 100_000)  # two parts of a multipart upload
THRESHOLD = 1024 * 1024  # the multipart threshold of `Case.small_parts`


@dataclass
class Case:
    store: BlobStore
    small_parts: BlobStore  # the same adapter with a 1 MiB multipart threshold, where it has one


@pytest.fixture(params=["memory", "fs", "s3"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    if request.param == "memory":
        memory = MemoryBlobStore()
        yield Case(memory, memory)
        return
    if request.param == "fs":
        fs = FsBlobStore.from_url(f"file://{tmp_path}")
        yield Case(fs, fs)
        return
    seaweedfs: SeaweedFs = request.getfixturevalue("seaweedfs")
    aws_environment(request.getfixturevalue("monkeypatch"), seaweedfs.admin)
    prefix = f"contract/{uuid.uuid4().hex}"  # each test has its own part of the bucket
    store = S3BlobStore.from_url(seaweedfs.url(prefix))
    small_parts = S3BlobStore.from_url(seaweedfs.url(prefix, f"multipart_threshold={THRESHOLD}"))
    yield Case(store, small_parts)
    await store.aclose()
    await small_parts.aclose()


async def listed(store: BlobStore, prefix: str) -> list[BlobInfo]:
    return [info async for info in store.list(prefix)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_has_tells_whether_a_key_holds_an_object(case: Case) -> None:
    await case.store.put("originals/ab/cd/x", b"bytes")
    assert await case.store.has("originals/ab/cd/x")
    assert not await case.store.has("originals/ab/cd/y")
    assert not await case.store.has("originals/ab")  # a folder on a filesystem
    await case.store.delete("originals/ab/cd/x")
    assert not await case.store.has("originals/ab/cd/x")


async def test_bytes_put_read_back_whole(case: Case) -> None:
    data = bytes(range(256)) * 40
    await case.store.put("originals/ab/cd/one", data)
    assert await case.store.get("originals/ab/cd/one") == data
    assert await case.store.get("originals/ab/cd/one", sha256=sha256(data)) == data


async def test_a_put_replaces_the_bytes_under_its_key(case: Case) -> None:
    await case.store.put("k", b"first, and longer than the second")
    await case.store.put("k", b"second")
    assert await case.store.get("k") == b"second"
    assert [(info.key, info.size) for info in await listed(case.store, "")] == [("k", 6)]


async def test_a_put_that_need_not_be_durable_reads_back_the_same(case: Case) -> None:
    await case.store.put("renditions/a/b", b"made again if lost", durable=False)
    assert await case.store.get("renditions/a/b") == b"made again if lost"
    await case.store.put("renditions/a/b", b"replaced", durable=False)
    assert await case.store.get("renditions/a/b") == b"replaced"


async def test_a_missing_key_is_none(case: Case) -> None:
    assert await case.store.get("never/written") is None
    assert not await case.store.has("never/written")
    assert await case.store.get("never/written", sha256=sha256(b"")) is None


async def test_a_delete_removes_and_deleting_again_is_no_error(case: Case) -> None:
    await case.store.put("renditions/a/b", b"x")
    await case.store.delete("renditions/a/b")
    assert await case.store.get("renditions/a/b") is None
    await case.store.delete("renditions/a/b")
    await case.store.delete("never/written/at/all")
    assert await listed(case.store, "") == []


async def test_a_listing_has_the_keys_under_the_prefix_in_key_order_with_sizes(
    case: Case,
) -> None:
    keys = ["a/b/1", "a/b_c", "a/b0", "a/b/2/x", "b/1", "a/c", "A", "aB", "ab"]
    for index, key in enumerate(random.Random(3).sample(keys, len(keys))):
        await case.store.put(key, b"x" * index)
    everything = await listed(case.store, "")
    assert [info.key for info in everything] == sorted(keys)
    sizes = {info.key: info.size for info in everything}
    assert await listed(case.store, "a/") == [i for i in everything if i.key.startswith("a/")]
    assert [info.key for info in await listed(case.store, "a/b")] == [
        "a/b/1",  # "/" sorts before every other character of a key
        "a/b/2/x",
        "a/b0",
        "a/b_c",
    ]
    assert [(i.key, i.size) for i in await listed(case.store, "a/b/")] == [
        ("a/b/1", sizes["a/b/1"]),
        ("a/b/2/x", sizes["a/b/2/x"]),
    ]
    assert await listed(case.store, "zz/") == [] and await listed(case.store, "a/b/2/x/") == []
    assert all(abs(info.modified - time.time()) < 600 for info in everything)


async def test_bytes_read_with_another_sha256_are_corrupt(case: Case) -> None:
    await case.store.put("originals/x", b"the bytes")
    with pytest.raises(BlobCorrupt) as corrupt:
        await case.store.get("originals/x", sha256=sha256(b"other bytes"))
    assert corrupt.value.status == 500 and "originals/x" in corrupt.value.public_message
    with pytest.raises(ValueError, match="sha256: expected 64 lowercase hex digits"):
        await case.store.get("originals/x", sha256="ABC")


async def test_empty_bytes_are_an_object_not_a_miss(case: Case) -> None:
    await case.store.put("empty", b"")
    assert await case.store.get("empty", sha256=sha256(b"")) == b""
    assert [(info.key, info.size) for info in await listed(case.store, "")] == [("empty", 0)]


async def test_an_object_over_the_multipart_threshold_reads_back_whole(case: Case) -> None:
    await case.small_parts.put("big/one", BIG)
    assert await case.small_parts.get("big/one", sha256=sha256(BIG)) == BIG
    assert await case.store.get("big/one") == BIG  # the same object, whatever the threshold
    assert [(i.key, i.size) for i in await listed(case.store, "big/")] == [("big/one", len(BIG))]


async def test_keys_with_slashes_are_the_asset_layout(case: Case) -> None:
    data = b"an original"
    keys = [original_key(sha256(data)), rendition_key(ASSET, sha256(b"a rendition"))]
    for key in keys:
        await case.store.put(key, data)
        assert await case.store.get(key, sha256=sha256(data)) == data
    assert [info.key for info in await listed(case.store, rendition_prefix(ASSET))] == keys[1:]
    assert [info.key for info in await listed(case.store, "originals/")] == keys[:1]


async def test_a_segment_may_be_as_long_as_a_file_name(case: Case) -> None:
    key = f"renditions/{'n' * MAX_SEGMENT_LENGTH}"
    await case.store.put(key, b"long")
    await case.store.put(key, b"longer")  # a temporary file beside it, with a name that fits
    assert await case.store.get(key) == b"longer"
    assert [info.key for info in await listed(case.store, "renditions/")] == [key]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "a//b",
        "a/",
        "..",
        "../x",
        "a/../b",
        "a/./b",
        ".hidden",
        "a b",
        "a\\b",
        "a-b",
        "a.b",
    ],
)
async def test_a_malformed_key_is_a_value_error(case: Case, key: str) -> None:
    for call in (case.store.put(key, b"x"), case.store.get(key), case.store.delete(key)):
        with pytest.raises(ValueError, match="blob key"):
            await call
    assert await listed(case.store, "") == []


@pytest.mark.parametrize("prefix", ["/", "/a", "a//", "../", "a/../", ".x"])
async def test_a_malformed_prefix_is_a_value_error(case: Case, prefix: str) -> None:
    with pytest.raises(ValueError, match="blob prefix"):
        await listed(case.store, prefix)


# The filesystem store.


def tree(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


def temporaries(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*") if path.is_file()]


async def test_fs_a_write_failing_midway_leaves_the_old_bytes_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FsBlobStore(tmp_path)
    await store.put("originals/ab/one", b"old")

    def full_disk(descriptor: int) -> None:  # after the bytes were written, before the rename
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    for key in ("originals/ab/one", "originals/ab/two"):
        with pytest.raises(StorageUnavailable) as failed:
            await store.put(key, b"new bytes, never whole")
        assert failed.value.status == 503 and key in failed.value.public_message
    monkeypatch.undo()
    assert await store.get("originals/ab/one") == b"old"
    assert await store.get("originals/ab/two") is None
    assert temporaries(tmp_path) == []
    assert [info.key for info in await listed(store, "")] == ["originals/ab/one"]


async def test_fs_permission_errors_are_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FsBlobStore(tmp_path)

    def refused(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(StorageDenied) as denied:
        await store.put("a/b", b"x")
    assert denied.value.status == 500 and "Permission denied" in denied.value.public_message
    assert temporaries(tmp_path) == []


async def test_fs_a_crash_s_temporary_files_are_never_objects_and_go_when_stale(
    tmp_path: Path,
) -> None:
    store = FsBlobStore(tmp_path)
    await store.put("originals/ab/kept", b"whole")
    folder = tmp_path / "originals" / "ab"
    fresh = folder / ".one.0123456789abcdef.tmp"  # a put in flight, or one that just crashed
    stale = folder / ".two.fedcba9876543210.tmp"
    fresh.write_bytes(b"half of o")
    stale.write_bytes(b"half of t")
    hours_ago = time.time() - STALE_AFTER - 60
    os.utime(stale, (hours_ago, hours_ago))
    assert await store.get("originals/ab/one") is None
    assert [info.key for info in await listed(store, "originals/")] == ["originals/ab/kept"]
    assert (fresh.exists(), stale.exists()) == (True, False)


async def test_fs_files_that_are_no_keys_are_not_listed(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    await store.put("a/b", b"x")
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "a" / "notes about a.txt").write_text("an operator's")
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a" / "b")
    assert [info.key for info in await listed(store, "")] == ["a/b"]


async def test_fs_a_delete_removes_the_folders_it_empties(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    await store.put("renditions/asset/one", b"1")
    await store.put("renditions/other/two", b"2")
    await store.delete("renditions/asset/one")
    assert tree(tmp_path) == [
        "renditions",
        "renditions/other",
        "renditions/other/two",
    ]
    await store.put("renditions/asset/one", b"1 again")  # the folders are made anew
    assert await store.get("renditions/asset/one") == b"1 again"


async def test_fs_a_key_cannot_also_be_a_folder_of_keys(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    await store.put("a/b", b"x")
    for key in ("a", "a/b/c"):
        with pytest.raises(ValueError, match="cannot hold a key and keys below it"):
            await store.put(key, b"y")
        assert await store.get(key) is None
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("size", [10, INLINE_BYTES + 1])
async def test_fs_an_object_the_page_cache_does_not_hold_is_read_from_the_disk(
    tmp_path: Path, size: int
) -> None:
    """Small cached objects are read on the event loop; one evicted from the cache (or one
    too large) is read in a thread: either way, the same bytes."""
    store = FsBlobStore(tmp_path)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    await store.put("renditions/a/b", data)  # fsynced: its pages are clean, so evictable
    descriptor = os.open(tmp_path / "renditions" / "a" / "b", os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    assert await store.get("renditions/a/b") == data
    assert await store.get("renditions/a/b") == data  # cached by that read


async def test_fs_a_root_gone_is_unavailable_not_empty(tmp_path: Path) -> None:
    root = tmp_path / "mounted"
    root.mkdir()
    store = FsBlobStore.from_url(f"file://{root}")
    root.rmdir()
    for call in (store.get("a/b"), store.put("a/b", b"x"), store.delete("a/b"), listed(store, "")):
        with pytest.raises(StorageUnavailable, match="folder is missing"):
            await call


# The S3 store.


@pytest.fixture
def seaweed_env(seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch) -> SeaweedFs:
    aws_environment(monkeypatch, seaweedfs.admin)
    return seaweedfs


async def each_call_raises(store: S3BlobStore, error: type[Exception], match: str) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get("a/b"),
        lambda: store.put("a/b", b"x"),
        lambda: store.delete("a/b"),
        lambda: listed(store, "a/"),
    ]
    try:
        for call in calls:
            with pytest.raises(error, match=match):
                await call()
    finally:
        await store.aclose()


async def test_s3_a_large_put_is_a_multipart_upload(seaweed_env: SeaweedFs) -> None:
    prefix = f"multipart/{uuid.uuid4().hex}"
    store = S3BlobStore.from_url(seaweed_env.url(prefix, f"multipart_threshold={THRESHOLD}"))
    try:
        await store.put("big", BIG)
        await store.put("small", b"x" * THRESHOLD)  # not over the threshold: one request
    finally:
        await store.aclose()
    client = seaweed_env.client()
    tags = [
        client.head_object(Bucket=seaweed_env.bucket, Key=f"{prefix}/{key}")["ETag"]
        for key in ("big", "small")
    ]
    # S3 ends a multipart object's ETag with its count of parts.
    assert tags[0].endswith('-2"') and "-" not in tags[1]


async def test_s3_a_multipart_upload_that_fails_midway_is_aborted(
    seaweed_env: SeaweedFs,
) -> None:
    session = AioSession()
    parts = 0

    def second_part_fails(**_: object) -> None:
        nonlocal parts
        parts += 1
        if parts == 2:
            raise ConnectionResetError("the network failed during the second part")

    session.register("before-call.s3.UploadPart", second_part_fails)
    prefix = f"aborted/{uuid.uuid4().hex}"
    config = S3Config.from_url(
        seaweed_env.url(prefix, f"multipart_threshold={THRESHOLD}&retries=0")
    )
    store = S3BlobStore(config, session)
    try:
        with pytest.raises(StorageUnavailable):
            await store.put("big", BIG + BIG)  # three parts
        assert parts == 2
        assert await store.get("big") is None
    finally:
        await store.aclose()
    uploads = seaweed_env.client().list_multipart_uploads(Bucket=seaweed_env.bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        (Identity("imgfleet-admin-key", "a-wrong-secret"), "SignatureDoesNotMatch"),
        (Identity("an-unknown-key", "a-secret"), "InvalidAccessKeyId"),
    ],
)
async def test_s3_wrong_credentials_are_denied(
    seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch, identity: Identity, code: str
) -> None:
    aws_environment(monkeypatch, identity)
    store = S3BlobStore.from_url(seaweedfs.url("denied"))
    await each_call_raises(store, StorageDenied, f"refused our credentials \\({code}\\)")


async def test_s3_an_identity_without_write_access_is_denied_a_put(
    seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_environment(monkeypatch, seaweedfs.reader)
    store = S3BlobStore.from_url(seaweedfs.url(f"reader/{uuid.uuid4().hex}"))
    try:
        assert await store.get("a/b") is None  # it may read
        with pytest.raises(StorageDenied, match="AccessDenied"):
            await store.put("a/b", b"x")
    finally:
        await store.aclose()


async def test_s3_no_credentials_at_all_is_denied(
    seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_environment(monkeypatch, None)
    store = S3BlobStore.from_url(seaweedfs.url("anyone"))
    await each_call_raises(store, StorageDenied, "no AWS credentials")


async def test_s3_a_missing_bucket_is_unavailable_and_named(seaweed_env: SeaweedFs) -> None:
    url = seaweed_env.url("p").replace(seaweed_env.bucket, "no-such-bucket-here")
    store = S3BlobStore.from_url(url)
    await each_call_raises(store, StorageUnavailable, "bucket 'no-such-bucket-here' does not exist")


async def test_s3_an_endpoint_with_nothing_listening_is_unavailable_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_environment(monkeypatch, Identity("key", "secret"))
    with socket.socket() as held:  # bound and never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{held.getsockname()[1]}"
        store = S3BlobStore.from_url(f"s3://bucket?endpoint={endpoint}&timeout=1&retries=1")
        began = time.monotonic()
        await each_call_raises(store, StorageUnavailable, "EndpointConnectionError")
    assert time.monotonic() - began < 4 * 2.5  # four calls, each one retry of at most 1 s backoff


async def test_s3_an_endpoint_that_never_answers_is_unavailable_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_environment(monkeypatch, Identity("key", "secret"))
    with socket.socket() as silent:  # the kernel accepts connections nobody reads from
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = S3BlobStore.from_url(f"s3://bucket?endpoint={endpoint}&timeout=0.3&retries=0")
        began = time.monotonic()
        try:
            with pytest.raises(StorageUnavailable, match="ReadTimeoutError"):
                await store.get("a/b")
        finally:
            await store.aclose()
    assert 0.3 <= time.monotonic() - began < 3
