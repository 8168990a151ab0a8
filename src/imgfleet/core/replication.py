"""The rules regions replicate by: which copy of a record every region keeps, how many regions
a write concern waits for, and whether a region's copy is new enough for a read that carries
a write's clock.

Merging is a join: `winner` is commutative, associative and idempotent, so regions that
have applied the same events, in any order and any number of times, hold the same records.
That is what makes at-least-once delivery and catch-up after a cut safe without an inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum

from imgfleet.core.api_keys import ApiKey
from imgfleet.core.assets import Asset
from imgfleet.core.hlc import Hlc


class WriteConcern(StrEnum):
    LOCAL = "local"  # durable in the home region
    QUORUM = "quorum"  # and applied by enough peers that a majority of regions hold it
    ALL = "all"  # and applied by every peer

    @classmethod
    def parse(cls, text: str) -> WriteConcern:
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(concern.value for concern in cls)
            raise ValueError(
                f"write concern: expected one of {choices}, received {text!r:.40}"
            ) from None

    def regions(self, cluster: int) -> int:
        """Regions, the home one included, that must hold a write before it is acknowledged,
        in a cluster of `cluster` regions."""
        if self is WriteConcern.LOCAL:
            return 1
        if self is WriteConcern.QUORUM:
            return cluster // 2 + 1
        return cluster


def winner(current: Asset | None, incoming: Asset) -> Asset:
    """The copy of an asset every region keeps, whichever order it sees them in.

    A tombstone beats any live copy, so a delete is never undone, not even by an edit that a
    region cut off at the time made later by its clock; between two live copies, or two
    tombstones, the later clock wins (region id breaking ties).
    """
    if current is None or _rank(incoming) > _rank(current):
        return incoming
    return current


def _rank(asset: Asset) -> tuple[bool, Hlc]:
    return asset.deleted is not None, asset.hlc


def key_winner(current: ApiKey | None, incoming: ApiKey) -> ApiKey:
    """The copy of an API key every region keeps: a key never changes but to be revoked, and
    a revocation anywhere holds everywhere (the earliest time, if it was revoked twice)."""
    if current is None:
        return incoming
    revoked = [at for at in (current.revoked, incoming.revoked) if at is not None]
    return replace(current, revoked=min(revoked) if revoked else None)


def covers(copy: Asset | None, written: Hlc) -> bool:
    """Whether a region's copy of an asset includes the write stamped `written` (or something
    that beats it): what a read that carries that clock needs to be served here."""
    if copy is None:
        return False
    return copy.deleted is not None or copy.hlc >= written


def tombstone_settled(tombstone: Asset, here: str, peers: Mapping[str, Asset | None]) -> bool:
    """Whether this region may forget a tombstone past its grace period, given each peer's
    copy of the asset (None: it holds none).

    The region that made the delete forgets it once every peer holds it; every other region
    once that region has forgotten it, which it did only when every region held it. So a
    tombstone is gone nowhere before it is everywhere. (If the deleting region is no
    longer a peer, every peer holding the tombstone is the test here too.)
    """
    origin = tombstone.hlc.region
    if origin != here and origin in peers:
        return peers[origin] is None
    return all(
        copy is not None and copy.deleted is not None and copy.hlc >= tombstone.hlc
        for copy in peers.values()
    )
