"""The S3 client as imgfleet's S3 adapters open it, and the sorting of its failures.

The blob store (`blob.s3`) and the `s3://` source loader (`source.s3`) talk to S3 the same
way: credentials from the standard AWS chain (never from settings, which are logged and
shown), botocore's own `standard` retries (exponential backoff with jitter and a retry
quota, for throttling, 5xx answers, connection errors and timeouts), and a client made on
first use, since adapters are built where no event loop may run yet. They differ only in
which imgfleet error each kind of failure becomes, so `classify` sorts botocore's and
aiohttp's exceptions into a few kinds and each adapter translates the kinds, once.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from aiobotocore.client import AioBaseClient
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from imgfleet.core.backend_url import BackendUrl

S3_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, TimeoutError)
"""What a call through the client may raise besides imgfleet's own errors."""

_DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class Addressing(StrEnum):
    PATH = "path"  # https://endpoint/bucket/key
    VIRTUAL = "virtual"  # https://bucket.endpoint/key
    AUTO = "auto"  # botocore's choice


@dataclass(frozen=True, slots=True)
class ClientOptions:
    endpoint: str | None = None  # AWS's own endpoints when None
    region: str | None = None  # the AWS chain's (AWS_REGION, the config file) when None
    connect_timeout: float = 10.0  # seconds, per attempt
    read_timeout: float = 10.0  # seconds between reads, per attempt
    retries: int = 3  # retries after a failed attempt
    addressing: Addressing = Addressing.AUTO
    connections: int = 10  # botocore's default pool size


def is_bucket_name(text: str) -> bool:
    """Whether `text` is a valid S3 bucket name (3 to 63 lowercase letters, digits, . and -)."""
    return _BUCKET.fullmatch(text) is not None


def check_endpoint(endpoint: str) -> None:
    """ValueError unless `endpoint` is an http(s) URL with a host."""
    try:
        parsed = BackendUrl.parse(endpoint)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"endpoint expects an http:// or https:// URL, received {endpoint!r}")


class LazyClient:
    """One S3 client, opened on the first `client()` and closed by `aclose()`."""

    def __init__(self, options: ClientOptions, session: AioSession | None = None) -> None:
        self._options = options
        self._session = session or AioSession()
        self._lock = asyncio.Lock()
        self._open: tuple[AioBaseClient, AsyncExitStack] | None = None

    async def client(self) -> AioBaseClient:
        if self._open is None:
            async with self._lock:
                if self._open is None:
                    options = self._options
                    stack = AsyncExitStack()
                    client = await stack.enter_async_context(
                        self._session.create_client(
                            "s3",
                            region_name=options.region,
                            endpoint_url=options.endpoint,
                            config=AioConfig(
                                connect_timeout=options.connect_timeout,
                                read_timeout=options.read_timeout,
                                retries={"mode": "standard", "max_attempts": options.retries},
                                s3={"addressing_style": options.addressing.value},
                                max_pool_connections=options.connections,
                            ),
                        )
                    )
                    self._open = (client, stack)
        return self._open[0]

    async def aclose(self) -> None:
        async with self._lock:
            if self._open is not None:
                _, stack = self._open
                self._open = None
                await stack.aclose()


class FailureKind(StrEnum):
    DENIED = "denied"  # S3 refused our identity: 403, an unknown key, a bad signature
    NO_CREDENTIALS = "no_credentials"  # the AWS chain found none
    NO_SUCH_BUCKET = "no_such_bucket"
    NO_SUCH_KEY = "no_such_key"  # or no such version of it
    TIMEOUT = "timeout"  # connecting or reading took longer than allowed
    UNAVAILABLE = "unavailable"  # connection errors, 5xx and any other answer


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    code: str  # S3's error code (else its HTTP status) for an answer; "" otherwise
    detail: str  # "S3 answered <code>" for an answer, else the exception's type name


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def classify(error: BaseException) -> Failure:
    """The kind of one of `S3_ERRORS`, with what to say about it."""
    if isinstance(error, ClientError):
        code = error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = code or str(status or "")
        detail = f"S3 answered {code}"
        if status == 403 or code in _DENIED_CODES:
            return Failure(FailureKind.DENIED, code, detail)
        if code == "NoSuchBucket":
            return Failure(FailureKind.NO_SUCH_BUCKET, code, detail)
        if code in _MISSING_CODES:
            return Failure(FailureKind.NO_SUCH_KEY, code, detail)
        return Failure(FailureKind.UNAVAILABLE, code, detail)
    detail = type(error).__name__
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return Failure(FailureKind.NO_CREDENTIALS, "", detail)
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return Failure(FailureKind.TIMEOUT, "", detail)
    return Failure(FailureKind.UNAVAILABLE, "", detail)
