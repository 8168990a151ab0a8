"""The one error tree of imgfleet.

Every error a client can cause carries its HTTP status and a message safe to show that
client (it names the parameter, the expected shape and what was received). Only the HTTP
shell turns these into responses; everything below raises them.

    ImgfleetError (500, fault)
    ├── RenderWorkerLost (500, fault)     a render process died during the job (a codec
    │                                     crash, the OOM killer); the worker is replaced
    ├── StorageDenied (500, fault)        a storage backend refused our credentials
    ├── BlobCorrupt (500, fault)          stored bytes do not match their sha256
    ├── BadRequest (400)                  malformed URL, option, argument or body
    │   └── BadOption (400)               names the option, the expected shape, what came
    ├── Unauthorized (401)                no API key, or an unknown or revoked one
    ├── Forbidden (403)
    │   ├── BadSignature (403)
    │   ├── ForbiddenSource (403)         not allowlisted, SSRF guard, path escape
    │   └── MissingScope (403)            the API key lacks the scope the route needs
    ├── NotFound (404)
    │   ├── SourceNotFound (404)
    │   └── Expired (404)                 `expires` in the past
    ├── MethodNotAllowed (405)            carries the methods allowed
    ├── Conflict (409)                    a concurrent change came first; retry
    ├── Gone (410)                        a deleted asset
    ├── TooLarge (413)                    source bytes over the limit
    ├── HeaderTooLarge (431)              a request's line and headers over the limit
    ├── UnsupportedMedia (415)            not an image, or a format that is not enabled
    ├── OverLimit (422)                   resolution, frames or result dimension limits
    ├── IdempotencyConflict (422)         an Idempotency-Key reused for other bytes
    ├── Overloaded (503)                  admission refused; carries Retry-After
    ├── CacheUnavailable (503)            a cache backend failed: callers treat it as a miss
    ├── StorageUnavailable (503)          the blob store, database or bus failed or timed out
    │   └── NotCaughtUp (503)             a read carrying a write's clock that this region
    │                                     has not applied, nor could get from its home
    ├── OriginError (502)                 the origin answered badly
    ├── OriginTimeout (504)               the origin did not answer in time
    └── RenderTimeout (504)               the render deadline passed
        └── RenderKilled (504)            ... and its worker overran it: killed, replaced
"""

from __future__ import annotations

from imgfleet.core.render_warnings import NO_WARNINGS, RenderWarnings


class ImgfleetError(Exception):
    """Base of every imgfleet error; unknown subclasses are server faults (500)."""

    status: int = 500
    is_fault: bool = True
    reason: str = "internal"
    # What the engine warned during the render that raised this (set by the render job);
    # it is instance state, so it pickles with the error out of a render process.
    render_warnings: RenderWarnings = NO_WARNINGS

    def __init__(self, public_message: str) -> None:
        super().__init__(public_message)
        self.public_message = public_message

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by state, not by `__init__`'s arguments: errors cross to render processes."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(
    cls: type[ImgfleetError], args: tuple[object, ...], state: dict[str, object]
) -> ImgfleetError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class BadRequest(ImgfleetError):
    status, is_fault, reason = 400, False, "bad_request"


class BadOption(BadRequest):
    """An option that is unknown, or has the wrong number or kind of arguments."""

    reason = "bad_option"

    def __init__(self, option: str, expected: str, received: str) -> None:
        super().__init__(f"option {option!r}: expected {expected}, received {received!r}")
        self.option = option


class StorageDenied(ImgfleetError):
    reason = "storage_denied"


class BlobCorrupt(ImgfleetError):
    reason = "blob_corrupt"


class Unauthorized(ImgfleetError):
    status, is_fault, reason = 401, False, "unauthorized"


class Forbidden(ImgfleetError):
    status, is_fault, reason = 403, False, "forbidden"


class MissingScope(Forbidden):
    reason = "missing_scope"


class BadSignature(Forbidden):
    reason = "bad_signature"


class ForbiddenSource(Forbidden):
    reason = "forbidden_source"


class NotFound(ImgfleetError):
    status, is_fault, reason = 404, False, "not_found"


class SourceNotFound(NotFound):
    reason = "source_not_found"


class Expired(NotFound):
    reason = "expired"


class MethodNotAllowed(ImgfleetError):
    status, is_fault, reason = 405, False, "method_not_allowed"

    def __init__(self, public_message: str, allow: str) -> None:
        super().__init__(public_message)
        self.allow = allow


class Conflict(ImgfleetError):
    status, is_fault, reason = 409, False, "conflict"


class Gone(ImgfleetError):
    status, is_fault, reason = 410, False, "gone"


class TooLarge(ImgfleetError):
    status, is_fault, reason = 413, False, "too_large"


class HeaderTooLarge(ImgfleetError):
    """A request's line and headers over the server's limit: answered by the server itself,
    before the request is parsed to the end."""

    status, is_fault, reason = 431, False, "header_too_large"


class UnsupportedMedia(ImgfleetError):
    status, is_fault, reason = 415, False, "unsupported"


class OverLimit(ImgfleetError):
    status, is_fault, reason = 422, False, "over_limit"


class IdempotencyConflict(ImgfleetError):
    status, is_fault, reason = 422, False, "idempotency_conflict"


class ClientGone(ImgfleetError):
    """The client disconnected before its render was done; nothing is sent (nginx's 499)."""

    status, is_fault, reason = 499, False, "client_gone"


class Overloaded(ImgfleetError):
    status, is_fault, reason = 503, False, "overloaded"

    def __init__(self, public_message: str, retry_after: int = 1) -> None:
        super().__init__(public_message)
        self.retry_after = retry_after


class CacheUnavailable(ImgfleetError):
    status, is_fault, reason = 503, False, "cache_unavailable"


class StorageUnavailable(ImgfleetError):
    status, is_fault, reason = 503, False, "storage_unavailable"


class NotCaughtUp(StorageUnavailable):
    reason = "not_caught_up"


class OriginError(ImgfleetError):
    status, is_fault, reason = 502, False, "origin_error"


class OriginTimeout(ImgfleetError):
    status, is_fault, reason = 504, False, "origin_timeout"


class RenderTimeout(ImgfleetError):
    status, is_fault, reason = 504, False, "render_timeout"


class RenderKilled(RenderTimeout):
    """The render overran its deadline by more than the grace, or stopped answering."""

    reason = "render_killed"


class RenderWorkerLost(ImgfleetError):
    """A render process died during the job: a server fault, whatever the input did.

    500 rather than 503: the likely cause is an input that crashes a codec, which a retry
    would only repeat.
    """

    reason = "render_worker_lost"
