"""Response headers for renditions (caching, negotiation, disposition), and the request
header or cookie that asks for read-your-writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

from imgfleet.service.delivery import Presentation

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "image/svg+xml": "svg",
}
_UNSAFE = re.compile(r"[^\w.\- ]")


def rendition_headers(
    presentation: Presentation, media_type: str, ttl: int, now: float
) -> list[tuple[bytes, bytes]]:
    """ETag, Cache-Control (capped by `expires`), Vary, type and disposition of a rendition."""
    p = presentation
    max_age = ttl
    if p.expires is not None:
        max_age = max(0, min(ttl, int(p.expires - now)))
    cache_control = f"public, max-age={max_age}"
    if p.signed:
        cache_control += ", immutable"
    headers = [
        (b"content-type", media_type.encode()),
        (b"etag", etag(p)),
        (b"cache-control", cache_control.encode()),
    ]
    if p.negotiated:
        headers.append((b"vary", b"Accept"))
    if p.disposition:
        headers.append((b"content-disposition", content_disposition(p, media_type)))
    return headers


def etag(presentation: Presentation) -> bytes:
    """The strong ETag: the rendition's canonical cache key."""
    return b'"' + presentation.key.encode() + b'"'


def etag_matches(header: bytes | None, etag: bytes) -> bool:
    """Whether `If-None-Match` names `etag`: `*`, or a list of tags compared weakly (RFC 9110
    §13.1.2: a `W/` prefix on either side does not matter for If-None-Match)."""
    if not header:
        return False
    if header.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in header.split(b","))


def content_disposition(presentation: Presentation, media_type: str) -> bytes:
    kind = "attachment" if presentation.attachment else "inline"
    stem = _UNSAFE.sub("_", presentation.filename or "image").strip() or "image"
    name = f"{stem}.{_EXTENSIONS.get(media_type, 'bin')}"
    return f'{kind}; filename="{name}"'.encode()


WRITTEN_HEADER = b"imgfleet-hlc"  # a write's clock, sent back for read-your-writes
WRITTEN_COOKIE = "imgfleet_hlc"  # the same, as a cookie


def written_clock(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The write clock a request carries (header `Imgfleet-Hlc`, else cookie
    `imgfleet_hlc`); None for a request that asks no read-your-writes."""
    cookie = None
    for name, value in headers:
        if name == WRITTEN_HEADER:
            return value.decode("latin-1").strip() or None  # empty: none sent
        if name == b"cookie" and WRITTEN_COOKIE.encode() in value:
            cookie = value
    if cookie is None:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie.decode("latin-1"))
    except CookieError:
        return None
    morsel = jar.get(WRITTEN_COOKIE)
    return None if morsel is None else morsel.value.strip() or None
