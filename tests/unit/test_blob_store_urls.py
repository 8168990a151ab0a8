"""Blob store URLs: `memory://`, `file:///path`, `s3://bucket/prefix?options` (no I/O here
but a look at the file store's folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfleet.adapters.blob.fs import FsBlobStore
from imgfleet.adapters.blob.memory import MemoryBlobStore
from imgfleet.adapters.blob.s3 import (
    DEFAULT_MULTIPART_THRESHOLD,
    MIN_PART_SIZE,
    Addressing,
    S3BlobStore,
    S3Config,
)
from imgfleet.wiring.backends import BLOB_STORES

SETTING = "IMGFLEET_STORAGE__BLOBS"


def test_the_scheme_picks_the_adapter(tmp_path: Path) -> None:
    assert isinstance(BLOB_STORES.open("memory://"), MemoryBlobStore)
    assert isinstance(BLOB_STORES.open(f"file://{tmp_path}"), FsBlobStore)
    assert isinstance(BLOB_STORES.open("s3://bucket?region=eu-west-1"), S3BlobStore)


def test_an_s3_url_with_no_option_takes_the_defaults() -> None:
    assert S3Config.from_url("s3://my.bucket-1") == S3Config(
        bucket="my.bucket-1",
        prefix="",
        endpoint=None,
        region=None,  # the AWS chain's
        timeout=10.0,
        retries=3,
        multipart_threshold=DEFAULT_MULTIPART_THRESHOLD,
        addressing=Addressing.AUTO,
    )


def test_an_s3_url_carries_its_prefix_and_options() -> None:
    config = S3Config.from_url(
        "s3://imgfleet/region_a/blobs/?endpoint=http://127.0.0.1:8333&region=us-east-1"
        "&timeout=2.5&retries=0&multipart_threshold=1048576"
    )
    assert (config.bucket, config.prefix, config.endpoint) == (
        "imgfleet",
        "region_a/blobs/",
        "http://127.0.0.1:8333",
    )
    assert (config.region, config.timeout, config.retries) == ("us-east-1", 2.5, 0)
    assert config.multipart_threshold == 1048576 and config.part_size == MIN_PART_SIZE
    assert config.addressing is Addressing.PATH  # the default with an endpoint


def test_parts_are_the_threshold_but_never_under_s3_s_minimum() -> None:
    assert S3Config.from_url("s3://bkt?multipart_threshold=1").part_size == MIN_PART_SIZE
    big = S3Config.from_url(f"s3://bkt?multipart_threshold={64 * 1024 * 1024}")
    assert big.part_size == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://bkt?timeout=0", "timeout must be more than 0"),
        ("s3://bkt?timeout=soon", "timeout expects seconds, received 'soon'"),
        ("s3://bkt?retries=-1", "retries must be at least 0, received -1"),
        ("s3://bkt?retries=some", "retries expects an integer, received 'some'"),
        ("s3://bkt?multipart_threshold=0", "multipart_threshold must be at least 1"),
        ("s3://bkt?multipart_threshold=8MB", "multipart_threshold expects an integer"),
        ("s3://bkt?endpoint=127.0.0.1:8333", "endpoint expects an http:// or https:// URL"),
        ("s3://bkt?endpoint=ftp://host", "endpoint expects an http:// or https:// URL"),
        ("s3://bkt?endpoint=http://", "endpoint expects an http:// or https:// URL"),
        ("s3://bkt?addressing=dns", "addressing expects path, virtual or auto, received 'dns'"),
        ("s3://bkt?region=", "region expects a region name, received ''"),
        ("s3://bkt?access_key=AKIA", "unknown option 'access_key'"),
        ("s3://bkt?secret_key=s", "unknown option 'secret_key'"),
        ("s3://AKIA:secret@bkt", "credentials do not belong in the URL"),
        ("s3://", "expected s3://bucket/optional/prefix"),
        ("s3://ab", "expected s3://bucket/optional/prefix"),
        ("s3://My_Bucket", "received 'My_Bucket'"),
        ("s3://bkt:9000", "expected s3://bucket/optional/prefix"),
        ("s3://bkt/a/../b", "prefix: blob key"),
        ("s3://bkt/a//b", "prefix: blob key"),
    ],
)
def test_a_bad_s3_url_names_the_setting_and_the_option(url: str, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        BLOB_STORES.open(url)
    assert str(bad.value).startswith(f"{SETTING}: ") and message in str(bad.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "gs://bucket",
            "expected a URL starting memory://, file://, s3://; received 'gs://bucket'",
        ),
        ("memory://?max_bytes=5", "unknown option 'max_bytes' (options: none)"),
        ("file://relative/path", "expected file:///absolute/path"),
        ("file://", "expected file:///absolute/path"),
        ("file:///no/such/folder/here", "'/no/such/folder/here' is not an existing folder"),
        ("file:///tmp?fsync=0", "unknown option 'fsync'"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        BLOB_STORES.open(url)
    assert str(bad.value).startswith(f"{SETTING}: ") and message in str(bad.value)


def test_credentials_in_an_s3_url_are_refused_without_repeating_them() -> None:
    with pytest.raises(ValueError, match="credentials do not belong in the URL") as bad:
        BLOB_STORES.open("s3://AKIA:the-secret@bkt")
    assert "the-secret" not in str(bad.value)


def test_a_file_url_may_name_localhost_and_escape_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "blob store"
    folder.mkdir()
    assert isinstance(FsBlobStore.from_url(f"file://localhost{tmp_path}/blob%20store"), FsBlobStore)


async def test_a_key_too_long_under_the_bucket_prefix_is_refused_before_any_request() -> None:
    store = S3BlobStore.from_url("s3://bkt/a_prefix")
    key = "/".join(["x" * 255] * 4)  # 1,023 characters: a key, but not under "a_prefix/"
    with pytest.raises(ValueError, match="over 1024 characters with the prefix"):
        await store.get(key)
    await store.aclose()
