"""A rendition: the bytes of one rendered image and their media type; and its stored form.

A rendition kept in the blob store (`service.asset_source`) is one object: a header line,
`<media type> <sha256 of the body>`, then the body. The checksum is what lets the
filesystem store write renditions without fsync: a rendition is derived data, so a crash
may cost one, and a file torn by that crash fails the check and reads as missing (rendered
again and written over) instead of being served.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_MAX_HEADER = 200  # bytes of the header line: a media type and 64 hex digits


@dataclass(frozen=True, slots=True)
class Rendition:
    body: bytes
    media_type: str


def stored_form(rendition: Rendition) -> bytes:
    digest = hashlib.sha256(rendition.body).hexdigest()
    return f"{rendition.media_type} {digest}\n".encode("ascii") + rendition.body


def from_stored(blob: bytes) -> Rendition | None:
    """The rendition `stored_form` made; None when `blob` is not one or not whole."""
    header, newline, _ = blob[:_MAX_HEADER].partition(b"\n")
    media_type, space, digest = header.decode("ascii", "replace").partition(" ")
    if not (newline and space and media_type):
        return None
    body = blob[len(header) + 1 :]
    if hashlib.sha256(body).hexdigest() != digest:
        return None
    return Rendition(body, media_type)
