"""Assets: the images imgfleet owns, their ids, list cursors and the events their changes emit.

An asset is a tenant's record of one original; the original's bytes are stored once per
sha256 (content addressing), whoever uploaded them. Deleting an asset leaves a tombstone
(`deleted` set) so that the delete replicates and wins over older writes; the bytes go
after a grace period when no live asset shares them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from imgfleet.core.api_keys import ApiKey
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat

# Crockford's base32: ids sort by creation time as text, and read unambiguously aloud.
_BASE32 = "0123456789abcdefghjkmnpqrstvwxyz"
# 26 characters hold 130 bits, of which an id uses 128: its first character is at most 7.
ID_PATTERN = re.compile(r"[0-7][0-9a-hjkmnp-tv-z]{25}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
ORIGINALS = "originals/"  # blob store prefix of originals, keyed by sha256
RENDITIONS = "renditions/"  # ... of stored renditions, by asset id, then cache key


def new_id(now_ms: int, entropy: bytes) -> str:
    """A 26-character id: 48 bits of milliseconds, then 80 random bits (as ULIDs are)."""
    if len(entropy) != 10:
        raise ValueError(f"entropy: expected 10 bytes, received {len(entropy)}")
    number = (now_ms & (1 << 48) - 1) << 80 | int.from_bytes(entropy, "big")
    return "".join(_BASE32[number >> shift & 31] for shift in range(125, -1, -5))


def is_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def original_key(sha256: str) -> str:
    """Where an original's bytes live in the blob store: sharded by the hash's first bytes,
    so that no folder of a filesystem store grows past a few thousand entries."""
    return f"{ORIGINALS}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def rendition_prefix(asset_id: str) -> str:
    """The blob store prefix of an asset's stored renditions: purged with one listing."""
    return f"{RENDITIONS}{asset_id}/"


def rendition_key(asset_id: str, cache_key: str) -> str:
    return f"{rendition_prefix(asset_id)}{cache_key}"


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    tenant: str
    sha256: str
    format: ImageFormat
    width: int
    height: int
    bytes: int
    created: float  # unix seconds
    home_region: str
    placeholder: str  # ThumbHash, base64
    dominant_color: str  # "#rrggbb"
    hlc: Hlc  # of the last change
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    deleted: float | None = None  # unix seconds of the delete: a tombstone

    @property
    def live(self) -> bool:
        return self.deleted is None


class EventType(StrEnum):
    STORED = "AssetStored"
    UPDATED = "AssetUpdated"
    DELETED = "AssetDeleted"
    KEY_CREATED = "KeyCreated"
    KEY_REVOKED = "KeyRevoked"

    @property
    def subject(self) -> str:
        """What the event is about: `assets` or `keys` (a token of its bus subject)."""
        return "keys" if self.value.startswith("Key") else "assets"


@dataclass(frozen=True, slots=True)
class AssetEvent:
    """One change, written to the outbox in the transaction that makes it; what the region's
    nodes tail to purge their caches and what other regions replicate. `asset` is the whole
    record after the change, so applying an event needs nothing else."""

    id: str  # unique across regions: the bus drops a second publish of it
    type: EventType
    asset: Asset

    @property
    def hlc(self) -> Hlc:
        return self.asset.hlc


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """An API key made or revoked: keys replicate to every region as assets do, so a key
    works everywhere and a revocation holds everywhere (`core.replication.key_winner`)."""

    id: str
    type: EventType
    key: ApiKey
    hlc: Hlc


Event = AssetEvent | KeyEvent


@dataclass(frozen=True, slots=True)
class Page:
    assets: tuple[Asset, ...]
    next_cursor: str | None  # None: this was the last page


def encode_cursor(after_id: str) -> str:
    """An opaque cursor: the last id listed, which the next page starts after."""
    return base64.urlsafe_b64encode(f"a1:{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor continues after; ValueError for anything `encode_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    version, _, after = text.partition(":")
    # The decoder skips characters outside the alphabet: only the exact text we made passes.
    if version != "a1" or not is_id(after) or encode_cursor(after) != cursor:
        raise ValueError(f"cursor: not one this API returned, received {cursor!r:.40}")
    return after
