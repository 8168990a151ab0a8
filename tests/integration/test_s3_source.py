"""`s3://` sources against SeaweedFS on loopback: deliveries through the app (a rendition,
and 403, 404, 413, 502, 504), then what only the loader shows (versions, an identity S3
refuses, a missing bucket)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from imgfleet.adapters.source.s3 import S3Source, S3SourceConfig
from imgfleet.core.errors import OriginError, SourceNotFound
from tests import imagegen
from tests.app.conftest import AppUnderTest, app_under_test, make_settings, signed
from tests.seaweedfs import Identity, SeaweedFs, aws_environment

pytestmark = pytest.mark.integration

PHOTO = imagegen.jpeg(400, 300)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The test bucket, with a part of its own for each test; objects put as the admin."""

    seaweedfs: SeaweedFs
    prefix: str

    def put(self, name: str, data: bytes) -> str:
        key = f"{self.prefix}/{name}"
        self.seaweedfs.client().put_object(Bucket=self.seaweedfs.bucket, Key=key, Body=data)
        return f"s3://{self.seaweedfs.bucket}/{key}"

    def sources(self, endpoint: str | None = None, **more: Any) -> dict[str, Any]:
        """The `sources` settings that allow this bucket, read from `endpoint`."""
        return {
            "s3_buckets": self.seaweedfs.bucket,
            "s3_endpoint": endpoint or self.seaweedfs.endpoint,
            "s3_region": self.seaweedfs.region,
            **more,
        }


@pytest.fixture
def bucket(seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    aws_environment(monkeypatch, seaweedfs.reader)  # imgfleet only reads
    return Bucket(seaweedfs, f"s3-sources/{uuid.uuid4().hex}")


AppWith = Callable[..., AbstractAsyncContextManager[AppUnderTest]]


@pytest.fixture
def app_with(tmp_path: Path) -> AppWith:
    """Opens an app over `sources` settings changed as given."""

    def factory(**sources: Any) -> AbstractAsyncContextManager[AppUnderTest]:
        return app_under_test(make_settings(tmp_path, sources=sources))

    return factory


async def get(app: AppUnderTest, path: str) -> httpx.Response:
    async with app.client() as client:
        return await client.get(path)


async def test_a_delivery_of_an_s3_object_returns_its_rendition(
    bucket: Bucket, app_with: AppWith
) -> None:
    url = bucket.put("2024/tabby cat.jpg", PHOTO)  # slashes and a space in the key
    async with app_with(**bucket.sources()) as app:
        r = await get(app, signed("rs:fit:100:0", url, "png"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        image = pyvips.Image.new_from_buffer(r.content, "")
        assert (image.width, image.height, image.bands) == (100, 75, 3)
        plain = await get(app, signed("w:40", url.replace(" ", "%20"), "webp", plain=True))
        assert plain.status_code == 200, plain.text
        assert pyvips.Image.new_from_buffer(plain.content, "").width == 40


async def test_a_bucket_not_allowed_is_403_and_s3_sources_are_off_without_buckets(
    bucket: Bucket, app_with: AppWith
) -> None:
    url = bucket.put("cat.jpg", PHOTO)
    elsewhere = url.replace(bucket.seaweedfs.bucket, "imgfleet-elsewhere", 1)
    async with app_with(**bucket.sources()) as app:
        r = await get(app, signed("w:50", elsewhere, "png"))
    assert r.status_code == 403 and "'imgfleet-elsewhere'" in r.json()["message"]
    async with app_with() as app:
        r = await get(app, signed("w:50", url, "png"))
    assert r.status_code == 403 and "IMGFLEET_SOURCES__S3_BUCKETS" in r.json()["message"]


async def test_a_missing_key_is_404(bucket: Bucket, app_with: AppWith) -> None:
    url = bucket.put("present.jpg", PHOTO).replace("present", "absent")
    async with app_with(**bucket.sources()) as app:
        r = await get(app, signed("w:50", url, "png"))
    assert r.status_code == 404 and "NoSuchKey" in r.json()["message"]


async def test_an_object_over_the_byte_limit_is_413(bucket: Bucket, app_with: AppWith) -> None:
    url = bucket.put("big.jpg", PHOTO)
    async with app_with(**bucket.sources(max_bytes=len(PHOTO) - 1)) as app:
        r = await get(app, signed("w:50", url, "png"))
    assert r.status_code == 413, r.text
    async with app_with(**bucket.sources(max_bytes=len(PHOTO))) as app:
        assert (await get(app, signed("w:50", url, "png"))).status_code == 200


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    """An endpoint bound and never listening: connections are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint whose connections the kernel accepts and nobody ever reads."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"


async def test_an_endpoint_with_nothing_listening_is_502_soon(
    bucket: Bucket, app_with: AppWith, refusing_endpoint: str
) -> None:
    url = f"s3://{bucket.seaweedfs.bucket}/{bucket.prefix}/cat.jpg"
    async with app_with(**bucket.sources(refusing_endpoint)) as app:
        began = time.monotonic()
        r = await get(app, signed("w:50", url, "png"))
    assert r.status_code == 502 and "EndpointConnectionError" in r.json()["message"]
    assert time.monotonic() - began < 5  # one retry, after at most a second's backoff


async def test_an_endpoint_that_never_answers_is_504_after_the_download_timeout(
    bucket: Bucket, app_with: AppWith, silent_endpoint: str
) -> None:
    url = f"s3://{bucket.seaweedfs.bucket}/{bucket.prefix}/cat.jpg"
    async with app_with(**bucket.sources(silent_endpoint, download_timeout=0.4)) as app:
        began = time.monotonic()
        r = await get(app, signed("w:50", url, "png"))
    assert r.status_code == 504, r.text
    assert 0.4 <= time.monotonic() - began < 4


@pytest.fixture
def versioned(seaweedfs: SeaweedFs) -> str:
    """A bucket of the test's own, with versioning on."""
    name = f"imgfleet-versions-{uuid.uuid4().hex[:12]}"
    admin = seaweedfs.client()
    admin.create_bucket(Bucket=name)
    admin.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
async def loader(seaweedfs: SeaweedFs, versioned: str) -> AsyncIterator[S3Source]:
    """The loader alone, allowed the test bucket, `versioned` and a bucket never made."""
    config = S3SourceConfig(
        buckets=frozenset({seaweedfs.bucket, versioned, "imgfleet-no-such-bucket"}),
        endpoint=seaweedfs.endpoint,
        region=seaweedfs.region,
    )
    source = S3Source(config)
    yield source
    await source.aclose()


async def test_a_version_id_reads_that_version_in_either_spelling(
    seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch, loader: S3Source, versioned: str
) -> None:
    aws_environment(monkeypatch, seaweedfs.reader)
    admin = seaweedfs.client()
    first = admin.put_object(Bucket=versioned, Key="a/k", Body=b"first")["VersionId"]
    admin.put_object(Bucket=versioned, Key="a/k", Body=b"second")
    url = f"s3://{versioned}/a/k"
    assert await loader.fetch(url, max_bytes=100) == b"second"
    assert await loader.fetch(f"{url}?{first}", max_bytes=100) == b"first"  # imgproxy's form
    assert await loader.fetch(f"{url}?versionId={first}", max_bytes=100) == b"first"
    with pytest.raises(SourceNotFound, match="NoSuchVersion"):
        await loader.fetch(f"{url}?not-a-version", max_bytes=100)


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        (Identity("imgfleet-reader-key", "a-wrong-secret"), "SignatureDoesNotMatch"),
        (Identity("an-unknown-key", "a-secret"), "InvalidAccessKeyId"),
        (None, "no AWS credentials"),
    ],
)
async def test_credentials_s3_refuses_are_an_origin_error(
    seaweedfs: SeaweedFs,
    monkeypatch: pytest.MonkeyPatch,
    loader: S3Source,
    identity: Identity | None,
    message: str,
) -> None:
    aws_environment(monkeypatch, identity)
    with pytest.raises(OriginError, match=message) as refused:
        await loader.fetch(f"s3://{seaweedfs.bucket}/any/key.jpg", max_bytes=100)
    assert refused.value.status == 502


async def test_an_allowed_bucket_that_does_not_exist_is_not_found(
    seaweedfs: SeaweedFs, monkeypatch: pytest.MonkeyPatch, loader: S3Source
) -> None:
    aws_environment(monkeypatch, seaweedfs.reader)
    with pytest.raises(SourceNotFound, match="'imgfleet-no-such-bucket' does not exist"):
        await loader.fetch("s3://imgfleet-no-such-bucket/cat.jpg", max_bytes=100)
