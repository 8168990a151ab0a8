"""`s3://bucket/key` sources: objects in allowlisted S3 buckets, read as imgproxy reads them.

`s3://<bucket>/<key>[?<version id>]`: the key is everything after the bucket's `/`
(slashes included), taken as the URL parser hands it over (percent-decoded once, never
again, so a `%` left in it is part of the key). As in imgproxy the query is the object's
version id; `?versionId=<id>`, S3's own spelling, is accepted too. So a key cannot hold a
`?`.

Refused before any network call, with `ForbiddenSource`: a bucket outside `buckets`, an
empty key, and a key with a `.` or `..` segment (S3 keeps such keys as they are, but with
path-style addressing a server or proxy that normalises paths would read them as another
bucket's object). A key over S3's 1,024 bytes names no object: `SourceNotFound`.

The object's ContentLength is checked against `max_bytes` before its body is read, and
reading stops once past it (`TooLarge` either way). The whole fetch, retries included,
runs under `download_timeout`.

S3 failures (sorted by `s3_client.classify`) are translated once, in `_translated`: a
missing key, version or bucket is `SourceNotFound`; a connect or read timeout
`OriginTimeout`; S3 refusing our identity (403, an unknown access key, a bad signature)
or no credentials at all is `OriginError` (502), not `ForbiddenSource`: the bucket passed
our allowlist, so the client asked for what it may ask for, and the refusal lies between
us and S3 (an identity or bucket policy without s3:GetObject), the operator's to fix, as
an http origin answering 403 is a 502 here. A 403 would also claim more than we know:
without s3:ListBucket, S3 answers a missing key with 403. Anything else is `OriginError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from aiobotocore.client import AioBaseClient
from aiobotocore.session import AioSession

from imgfleet.adapters.s3_client import (
    S3_ERRORS,
    Addressing,
    ClientOptions,
    FailureKind,
    LazyClient,
    check_endpoint,
    classify,
    is_bucket_name,
)
from imgfleet.core.blobs import MAX_KEY_LENGTH
from imgfleet.core.errors import (
    ForbiddenSource,
    OriginError,
    OriginTimeout,
    SourceNotFound,
    TooLarge,
)

_SCHEME = "s3://"
_VERSION_FIELD = "versionId="
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class S3SourceConfig:
    buckets: frozenset[str]  # the allowlist; every other bucket is refused
    endpoint: str | None = None  # an S3 API server, addressed path-style; None: AWS
    region: str | None = None  # None: the AWS chain's
    connect_timeout: float = 3.0
    download_timeout: float = 10.0  # the whole fetch, retries included
    retries: int = 1  # a client is waiting: one retry of a transient failure, no more
    connections: int = 64  # as many as the http source's pool

    def __post_init__(self) -> None:
        for bucket in sorted(self.buckets):
            if not is_bucket_name(bucket):
                raise ValueError(
                    f"bucket {bucket!r}: expected 3 to 63 lowercase letters, digits, '.' and '-'"
                )
        if self.endpoint is not None:
            check_endpoint(self.endpoint)


@dataclass(frozen=True, slots=True)
class _Object:
    bucket: str
    key: str
    version: str | None


class S3Source:
    """Reads `s3://bucket/key` from the allowlisted buckets with one lazily made client."""

    def __init__(self, config: S3SourceConfig, session: AioSession | None = None) -> None:
        self._config = config
        options = ClientOptions(
            endpoint=config.endpoint,
            region=config.region,
            connect_timeout=config.connect_timeout,
            read_timeout=config.download_timeout,
            retries=config.retries,
            addressing=Addressing.PATH if config.endpoint else Addressing.AUTO,
            connections=config.connections,
        )
        self._lazy = LazyClient(options, session)

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        target = self._located(url)
        with self._translated(target):
            async with asyncio.timeout(self._config.download_timeout):
                client = await self._lazy.client()
                return await _read(client, target, max_bytes)

    async def aclose(self) -> None:
        await self._lazy.aclose()

    def _located(self, url: str) -> _Object:
        """The object `url` names, once it passed the checks made without the network."""
        if url[: len(_SCHEME)].lower() != _SCHEME:
            raise ForbiddenSource(f"not an s3 source URL: {url!r}")
        location, _, query = url[len(_SCHEME) :].partition("?")
        bucket, _, key = location.partition("/")
        if bucket not in self._config.buckets:
            raise ForbiddenSource(f"S3 bucket {bucket!r} is not among the allowed buckets")
        if not key:
            raise ForbiddenSource(f"s3 source URLs look like s3://bucket/key, received {url!r}")
        if any(segment in (".", "..") for segment in key.split("/")):
            raise ForbiddenSource(f"s3 source key contains a '.' or '..' segment: {url!r}")
        if len(key.encode()) > MAX_KEY_LENGTH:
            raise SourceNotFound(f"source not found: an S3 key is at most {MAX_KEY_LENGTH} bytes")
        return _Object(bucket, key, query.removeprefix(_VERSION_FIELD) or None)

    @contextlib.contextmanager
    def _translated(self, target: _Object) -> Iterator[None]:
        """botocore's and aiohttp's exceptions (and the deadline's), translated once, here."""
        name = f"s3://{target.bucket}/{target.key}"
        try:
            yield
        except S3_ERRORS as error:
            failure = classify(error)
            if failure.kind is FailureKind.NO_SUCH_KEY:
                raise SourceNotFound(f"source not found: {name} ({failure.code})") from error
            if failure.kind is FailureKind.NO_SUCH_BUCKET:
                raise SourceNotFound(f"S3 bucket {target.bucket!r} does not exist") from error
            if failure.kind is FailureKind.TIMEOUT:
                raise OriginTimeout(f"S3 did not answer in time for {name}") from error
            if failure.kind is FailureKind.DENIED:
                raise OriginError(
                    f"S3 refused our credentials for {name} ({failure.code})"
                ) from error
            if failure.kind is FailureKind.NO_CREDENTIALS:
                raise OriginError(
                    "S3 sources have no AWS credentials (none in the chain)"
                ) from error
            raise OriginError(f"S3 failed for {name}: {failure.detail}") from error


async def _read(client: AioBaseClient, target: _Object, max_bytes: int) -> bytes:
    """The object's bytes; `TooLarge` from its ContentLength, or once the body passes it."""
    if target.version is None:
        answer = await client.get_object(Bucket=target.bucket, Key=target.key)
    else:
        answer = await client.get_object(
            Bucket=target.bucket, Key=target.key, VersionId=target.version
        )
    async with answer["Body"] as body:  # leaving early closes the connection: no drain
        declared = answer.get("ContentLength")
        if isinstance(declared, int) and declared > max_bytes:
            raise TooLarge(f"source is larger than {max_bytes} bytes (ContentLength {declared})")
        data = bytearray()
        while chunk := await body.read(_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise TooLarge(f"source is larger than {max_bytes} bytes")
    return bytes(data)
