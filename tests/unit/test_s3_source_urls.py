"""`s3://` sources: what is refused before any network call, and the settings that turn
them on (the reads themselves: tests/contract/test_source_loader.py and
tests/integration/test_s3_source.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from imgfleet.adapters.source.s3 import S3Source, S3SourceConfig
from imgfleet.core.errors import ForbiddenSource, SourceNotFound
from imgfleet.settings import SourceSettings
from imgfleet.wiring.config import s3_source_config

# Port 9 (discard) on loopback: were a check to let a URL through, the fetch would fail
# with an OriginError, not the error these tests expect.
ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
async def source() -> AsyncIterator[S3Source]:
    s3 = S3Source(S3SourceConfig(buckets=frozenset({"photos", "my.bucket-2"}), endpoint=ENDPOINT))
    yield s3
    await s3.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://other/cat.jpg", "S3 bucket 'other' is not among the allowed buckets"),
        ("s3://photosx/cat.jpg", "'photosx' is not among"),
        ("s3://PHOTOS/cat.jpg", "'PHOTOS' is not among"),  # bucket names are lower case
        ("s3:///photos/cat.jpg", "'' is not among"),
        ("s3://photos", "look like s3://bucket/key"),
        ("s3://photos/", "look like s3://bucket/key"),
        ("s3://photos/?v1", "look like s3://bucket/key"),
        ("s3://photos/../secret/cat.jpg", "'.' or '..' segment"),
        ("s3://photos/a/./cat.jpg", "'.' or '..' segment"),
        ("s3://photos/a/..", "'.' or '..' segment"),
        ("http://photos/cat.jpg", "not an s3 source URL"),
    ],
)
async def test_urls_are_refused_before_any_request(
    source: S3Source, url: str, message: str
) -> None:
    with pytest.raises(ForbiddenSource, match=re.escape(message)):
        await source.fetch(url, max_bytes=100)


async def test_a_key_longer_than_s3_allows_names_no_object(source: S3Source) -> None:
    with pytest.raises(SourceNotFound, match="at most 1024 bytes"):
        await source.fetch("s3://photos/" + "é" * 513, max_bytes=100)  # 1,026 bytes


def test_no_bucket_leaves_s3_sources_off() -> None:
    assert s3_source_config(SourceSettings()) is None


def test_the_settings_become_the_source_s_config() -> None:
    settings = SourceSettings(
        s3_buckets="photos, my.bucket-2",  # as the environment gives it
        s3_endpoint="http://127.0.0.1:8333",
        s3_region="eu-west-1",
        connect_timeout=1.5,
        download_timeout=4.0,
    )
    assert s3_source_config(settings) == S3SourceConfig(
        buckets=frozenset({"photos", "my.bucket-2"}),
        endpoint="http://127.0.0.1:8333",
        region="eu-west-1",
        connect_timeout=1.5,
        download_timeout=4.0,
    )
    assert s3_source_config(SourceSettings(s3_buckets=("photos",))) == S3SourceConfig(
        buckets=frozenset({"photos"})  # AWS, in the chain's region
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SourceSettings(s3_buckets=("Photos",)), "bucket 'Photos': expected 3 to 63"),
        (SourceSettings(s3_buckets=("s3://photos",)), "bucket 's3://photos'"),
        (SourceSettings(s3_buckets=("ab",)), "bucket 'ab'"),
        (
            SourceSettings(s3_buckets=("photos",), s3_endpoint="127.0.0.1:8333"),
            "endpoint expects an http:// or https:// URL, received '127.0.0.1:8333'",
        ),
    ],
)
def test_bad_settings_are_refused_naming_them(settings: SourceSettings, message: str) -> None:
    with pytest.raises(ValueError, match="IMGFLEET_SOURCES__S3_BUCKETS or") as refused:
        s3_source_config(settings)
    assert message in str(refused.value)
