"""Response headers for renditions and errors: caching, negotiation, disposition."""

from __future__ import annotations

import re

from imgfleet.core.errors import ImgfleetError, Overloaded
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


def content_disposition(presentation: Presentation, media_type: str) -> bytes:
    kind = "attachment" if presentation.attachment else "inline"
    stem = _UNSAFE.sub("_", presentation.filename or "image").strip() or "image"
    name = f"{stem}.{_EXTENSIONS.get(media_type, 'bin')}"
    return f'{kind}; filename="{name}"'.encode()


def error_headers(error: ImgfleetError, error_ttl: int) -> list[tuple[bytes, bytes]]:
    """Client errors may be cached briefly; server-side failures not at all."""
    headers = [(b"content-type", b"application/json")]
    if error.status < 500:
        headers.append((b"cache-control", f"public, max-age={error_ttl}".encode()))
    else:
        headers.append((b"cache-control", b"no-store"))
    if isinstance(error, Overloaded):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    return headers
