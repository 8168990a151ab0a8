"""The rules every blob store adapter applies alike: which keys and prefixes are valid, and
when bytes read back are corrupt.

Keys are made by imgfleet itself (`assets.original_key`, `assets.rendition_key`), never
taken from a client, so a bad one is a bug: `ValueError`, not `BadRequest`. A key is
segments of ASCII letters, digits and `_`, joined by `/`: at most 1,024 characters, each
segment at most 255. The grammar is narrow on purpose:

- no empty, `.` or `..` segment and no leading `/`: a key names one file under the
  filesystem store's root and nothing outside it;
- every character of a segment sorts after `/`, so listing in key order (S3's order, by
  bytes) and listing folder by folder (what a filesystem, and SeaweedFS' filer, do) agree:
  with `-` or `.` allowed, `a-b` would sort before `a/c` as text but after it by folder;
- no `.` at all, so the filesystem store's temporary files (`.name.random.tmp`) are never
  mistaken for keys.
"""

from __future__ import annotations

import hashlib
import re

from imgfleet.core.assets import SHA256_PATTERN
from imgfleet.core.errors import BlobCorrupt

MAX_KEY_LENGTH = 1024  # S3's limit, in bytes (keys are ASCII)
MAX_SEGMENT_LENGTH = 255  # a file name's limit on common filesystems
_SEGMENT = re.compile(r"[A-Za-z0-9_]+")


def blob_key(key: str) -> str:
    """`key`, checked: ValueError naming what is wrong with it otherwise."""
    if not key:
        raise ValueError("blob key: expected segments joined by '/', received ''")
    _check(key, key.split("/"), "blob key")
    return key


def is_blob_key(text: str) -> bool:
    """Whether `text` is a valid key (a file name: a valid key segment)."""
    try:
        blob_key(text)
    except ValueError:
        return False
    return True


def blob_prefix(prefix: str) -> str:
    """`prefix`, checked: "" (every key), or whole segments each followed by "/", then
    perhaps the start of one more (`originals/ab/c`)."""
    if prefix:
        segments = prefix.split("/")
        _check(prefix, segments[:-1] + ([segments[-1]] if segments[-1] else []), "blob prefix")
    return prefix


def _check(text: str, segments: list[str], what: str) -> None:
    if len(text) > MAX_KEY_LENGTH:
        raise ValueError(f"{what}: at most {MAX_KEY_LENGTH} characters, received {len(text)}")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or len(segment) > MAX_SEGMENT_LENGTH:
            raise ValueError(
                f"{what}: expected segments of letters, digits and '_', at most "
                f"{MAX_SEGMENT_LENGTH} each, joined by '/'; received {text!r:.80}"
            )


def verified(key: str, data: bytes, sha256: str | None) -> bytes:
    """`data` when it has the sha256 (hex) asked for, or when none was asked for;
    `BlobCorrupt` when it has another."""
    if sha256 is None:
        return data
    if not SHA256_PATTERN.fullmatch(sha256):
        raise ValueError(f"sha256: expected 64 lowercase hex digits, received {sha256!r:.80}")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobCorrupt(f"blob {key}: its bytes do not match their sha256")
    return data
