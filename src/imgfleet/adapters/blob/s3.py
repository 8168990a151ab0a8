"""`s3://bucket/prefix?endpoint=URL&region=R&timeout=S&retries=N&multipart_threshold=B&addressing=A`:
blobs in an S3 bucket, on AWS or any server of the S3 API (SeaweedFS, MinIO, ...).

Options (all optional):
  endpoint             the server's http(s) URL; AWS's own endpoints when absent
  region               the signing region; else the AWS chain's (AWS_REGION, the config file)
  timeout              seconds to connect, and between reads, per attempt (default 10)
  retries              retries after a failed attempt (default 3)
  multipart_threshold  bytes over which a put is a multipart upload (default 8 MiB)
  addressing           path, virtual or auto (default: path with an endpoint, else auto)

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
a profile, a web identity, an instance role), never from the URL: settings URLs are
logged and shown, secrets must not be. The identity needs s3:ListBucket as well as
Get/Put/DeleteObject: without it S3 answers a missing key with 403, which is
`StorageDenied`, not a miss.

Retries are botocore's own `standard` mode (`adapters.s3_client`), not a loop here: so a
call that cannot succeed returns within about (retries + 1) x timeout plus backoff.

A put over `multipart_threshold` is a multipart upload in parts of that size (at least the
5 MiB S3 requires of every part but the last), with CRC32 checksums; any failure aborts
the upload, so the object appears whole at completion or not at all. (A bucket lifecycle
rule that aborts incomplete uploads remains the backstop for a process killed midway.)

The client is made on first use (`s3_client.LazyClient`), since `from_url` runs where no
event loop may be. The failures `s3_client.classify` sorts are translated once, in
`_translated`: 403 answers and missing credentials become `StorageDenied`; a missing
bucket, connection errors, timeouts, 5xx and any other answer `StorageUnavailable` (a
missing bucket too: nothing is wrong with our credentials, and the store serves once the
bucket exists; the message names it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aiobotocore.client import AioBaseClient
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from imgfleet.adapters.s3_client import (
    S3_ERRORS,
    Addressing,
    ClientOptions,
    FailureKind,
    LazyClient,
    check_endpoint,
    classify,
    error_code,
    is_bucket_name,
)
from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.blobs import MAX_KEY_LENGTH, blob_key, blob_prefix, is_blob_key, verified
from imgfleet.core.errors import StorageDenied, StorageUnavailable
from imgfleet.ports import BlobInfo

OPTIONS = {"endpoint", "region", "timeout", "retries", "multipart_threshold", "addressing"}
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's least size of a multipart upload's parts but the last
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024
_CHECKSUM = "CRC32"


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    prefix: str = ""  # "" or segments ending in "/", before every key
    endpoint: str | None = None
    region: str | None = None
    timeout: float = 10.0
    retries: int = 3
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    addressing: Addressing = Addressing.AUTO

    @classmethod
    def from_url(cls, url: str) -> S3Config:
        """The configuration a `s3://` URL names; ValueError naming a bad part."""
        parsed = BackendUrl.parse(url, OPTIONS)
        authority = urlsplit(url).netloc
        if "@" in authority:
            raise ValueError(  # without the URL: it holds a secret
                "s3:// URL: credentials do not belong in the URL; the AWS chain provides them "
                "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            )
        if not is_bucket_name(authority):
            raise ValueError(
                f"{url!r}: expected s3://bucket/optional/prefix, with a bucket name of 3 to 63 "
                f"lowercase letters, digits, '.' and '-'; received {authority!r}"
            )
        bucket = authority
        prefix = unquote(parsed.path).strip("/")
        if prefix:
            try:
                blob_key(prefix)
            except ValueError as error:
                raise ValueError(f"{url!r}: prefix: {error}") from None
            prefix += "/"
        endpoint = parsed.options.get("endpoint")
        if endpoint is not None:
            try:
                check_endpoint(endpoint)
            except ValueError as error:
                raise ValueError(f"{url!r}: {error}") from None
        addressing = parsed.text_option(
            "addressing", Addressing.PATH if endpoint else Addressing.AUTO
        )
        if addressing not in set(Addressing):
            raise ValueError(
                f"{url!r}: addressing expects path, virtual or auto, received {addressing!r}"
            )
        region = parsed.options.get("region")
        if region is not None and not region:
            raise ValueError(f"{url!r}: region expects a region name, received ''")
        return cls(
            bucket=bucket,
            prefix=prefix,
            endpoint=endpoint,
            region=region,
            timeout=parsed.seconds("timeout", 10.0),
            retries=parsed.integer("retries", 3),
            multipart_threshold=parsed.integer(
                "multipart_threshold", DEFAULT_MULTIPART_THRESHOLD, minimum=1
            ),
            addressing=Addressing(addressing),
        )

    @property
    def part_size(self) -> int:
        return max(self.multipart_threshold, MIN_PART_SIZE)

    @property
    def client_options(self) -> ClientOptions:
        return ClientOptions(
            endpoint=self.endpoint,
            region=self.region,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries=self.retries,
            addressing=self.addressing,
        )


class S3BlobStore:
    def __init__(self, config: S3Config, session: AioSession | None = None) -> None:
        self._config = config
        self._lazy = LazyClient(config.client_options, session)

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        return cls(S3Config.from_url(url))

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        # S3 acknowledges a PUT once it is durable: there is no cheaper kind to ask for.
        name = self._name(key)
        with self._translated(key):
            client = await self._lazy.client()
            if len(data) > self._config.multipart_threshold:
                await self._put_in_parts(client, name, data)
            else:
                await client.put_object(Bucket=self._config.bucket, Key=name, Body=data)

    async def get(self, key: str, sha256: str | None = None) -> bytes | None:
        name = self._name(key)
        with self._translated(key):
            client = await self._lazy.client()
            try:
                answer = await client.get_object(Bucket=self._config.bucket, Key=name)
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
            async with answer["Body"] as body:
                data: bytes = await body.read()
        return await asyncio.to_thread(verified, key, data, sha256)  # hashing off the loop

    async def has(self, key: str) -> bool:
        name = self._name(key)
        with self._translated(key):
            client = await self._lazy.client()
            try:
                await client.head_object(Bucket=self._config.bucket, Key=name)
            except ClientError as error:
                if error_code(error) in ("404", "NoSuchKey", "NotFound"):  # HEAD has no body
                    return False
                raise
        return True

    async def delete(self, key: str) -> None:
        name = self._name(key)
        with self._translated(key):
            client = await self._lazy.client()
            await client.delete_object(Bucket=self._config.bucket, Key=name)

    async def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Keys starting with `prefix` in key order (S3 lists by UTF-8 bytes; keys are ASCII);
        objects under the bucket's prefix whose names are no blob key are skipped."""
        start = self._config.prefix + blob_prefix(prefix)
        with self._translated(prefix or "/"):
            client = await self._lazy.client()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self._config.bucket, Prefix=start
            )
            async for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self._config.prefix) :]
                    if is_blob_key(key):
                        yield BlobInfo(key, item["Size"], item["LastModified"].timestamp())

    async def aclose(self) -> None:
        await self._lazy.aclose()

    def _name(self, key: str) -> str:
        """The object's name in the bucket."""
        name = self._config.prefix + blob_key(key)
        if len(name) > MAX_KEY_LENGTH:
            raise ValueError(f"blob key {key!r}: over {MAX_KEY_LENGTH} characters with the prefix")
        return name

    async def _put_in_parts(self, client: AioBaseClient, name: str, data: bytes) -> None:
        bucket, size = self._config.bucket, self._config.part_size
        upload = await client.create_multipart_upload(
            Bucket=bucket, Key=name, ChecksumAlgorithm=_CHECKSUM
        )
        upload_id: str = upload["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            for number, offset in enumerate(range(0, len(data), size), start=1):
                answer = await client.upload_part(
                    Bucket=bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data[offset : offset + size],
                    ChecksumAlgorithm=_CHECKSUM,
                )
                part: dict[str, Any] = {"ETag": answer["ETag"], "PartNumber": number}
                if f"Checksum{_CHECKSUM}" in answer:
                    part[f"Checksum{_CHECKSUM}"] = answer[f"Checksum{_CHECKSUM}"]
                parts.append(part)
            await client.complete_multipart_upload(
                Bucket=bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:  # cancellation too: no upload is left open on purpose
            with contextlib.suppress(Exception):  # the first failure is the one to report
                await client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
            raise

    @contextlib.contextmanager
    def _translated(self, key: str) -> Iterator[None]:
        """botocore's and aiohttp's exceptions, translated once, here."""
        try:
            yield
        except S3_ERRORS as error:
            failure = classify(error)
            if failure.kind is FailureKind.DENIED:
                raise StorageDenied(
                    f"blob store: S3 refused our credentials ({failure.code})"
                ) from error
            if failure.kind is FailureKind.NO_CREDENTIALS:
                raise StorageDenied(
                    "blob store: no AWS credentials (set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY)"
                ) from error
            if failure.kind is FailureKind.NO_SUCH_BUCKET:
                raise StorageUnavailable(
                    f"blob store: bucket {self._config.bucket!r} does not exist"
                ) from error
            raise StorageUnavailable(f"blob store: {key}: {failure.detail}") from error
