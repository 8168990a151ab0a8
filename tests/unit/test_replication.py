"""The replication rules: regions that see the same copies, in any order, any number of
times, keep the same one; a delete is never undone; write concerns count regions."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.assets import Asset
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat
from imgfleet.core.replication import (
    WriteConcern,
    covers,
    key_winner,
    tombstone_settled,
    winner,
)

BASE = Asset(
    id="0" * 26,
    tenant="acme",
    sha256="a" * 64,
    format=ImageFormat.JPEG,
    width=10,
    height=10,
    bytes=100,
    created=1.0,
    home_region="eu",
    placeholder="",
    dominant_color="#000000",
    hlc=Hlc(1, 0, "eu"),
)
clocks = st.builds(Hlc, st.integers(0, 50), st.integers(0, 3), st.sampled_from(["eu", "us", "ap"]))
# One clock, one write: a copy's content (and whether it is a tombstone) is its clock's.
copies = st.builds(
    lambda hlc, deleted: replace(BASE, hlc=hlc, deleted=2.0 if deleted else None, tags=(str(hlc),)),
    clocks,
    st.booleans(),
)
writes = st.lists(copies, min_size=1, max_size=8, unique_by=lambda copy: copy.hlc)


def merged(sequence: list[Asset]) -> Asset | None:
    return functools.reduce(winner, sequence, None)  # type: ignore[arg-type]


@given(writes, st.randoms())
def test_every_order_and_repetition_of_the_same_copies_converges(
    sequence: list[Asset], random: object
) -> None:
    shuffled = list(sequence) + list(sequence[: len(sequence) // 2])  # redelivered too
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merged(shuffled) == merged(sequence)


@given(writes)
def test_a_tombstone_wins_over_every_live_copy_whatever_its_clock(sequence: list[Asset]) -> None:
    result = merged(sequence)
    assert result is not None
    tombstones = [copy for copy in sequence if copy.deleted is not None]
    if tombstones:
        assert result == max(tombstones, key=lambda copy: copy.hlc)
    else:
        assert result == max(sequence, key=lambda copy: copy.hlc)


def test_the_later_clock_wins_and_the_region_id_breaks_a_tie() -> None:
    older = replace(BASE, hlc=Hlc(5, 0, "us"), tags=("old",))
    newer = replace(BASE, hlc=Hlc(5, 1, "eu"), tags=("new",))
    assert winner(older, newer) == newer == winner(newer, older)
    eu, us = replace(BASE, hlc=Hlc(5, 0, "eu")), replace(BASE, hlc=Hlc(5, 0, "us"))
    assert winner(eu, us) == us == winner(us, eu)
    assert winner(None, eu) == eu


def key(revoked: float | None) -> ApiKey:
    return ApiKey("k1", "acme", frozenset({Scope.READ}), "s" * 64, 1.0, revoked)


@pytest.mark.parametrize(
    ("current", "incoming", "revoked"),
    [
        (None, None, None),
        (None, 3.0, 3.0),
        (2.0, None, 2.0),
        (None, None, None),
        (4.0, 3.0, 3.0),
        (3.0, 4.0, 3.0),
    ],
)
def test_a_revocation_anywhere_holds_everywhere(
    current: float | None, incoming: float | None, revoked: float | None
) -> None:
    assert key_winner(key(current), key(incoming)).revoked == revoked
    assert key_winner(key(incoming), key(current)).revoked == revoked
    assert key_winner(None, key(incoming)) == key(incoming)


def test_a_copy_covers_the_writes_up_to_its_clock_and_a_tombstone_all() -> None:
    copy = replace(BASE, hlc=Hlc(10, 2, "eu"))
    assert covers(copy, Hlc(10, 2, "eu")) and covers(copy, Hlc(9, 7, "us"))
    assert not covers(copy, Hlc(10, 3, "eu")) and not covers(None, Hlc(0, 0, "eu"))
    assert covers(replace(copy, deleted=5.0), Hlc(99, 0, "us"))


@pytest.mark.parametrize(
    ("concern", "cluster", "regions"),
    [
        ("local", 1, 1),
        ("local", 3, 1),
        ("quorum", 1, 1),
        ("quorum", 2, 2),
        ("quorum", 3, 2),
        ("quorum", 5, 3),
        ("all", 3, 3),
        (" ALL ", 1, 1),
    ],
)
def test_a_write_concern_counts_the_regions_it_waits_for(
    concern: str, cluster: int, regions: int
) -> None:
    assert WriteConcern.parse(concern).regions(cluster) == regions


@pytest.mark.parametrize("text", ["", "majority", "2", "local " + "x"])
def test_an_unknown_write_concern_names_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of local, quorum, all"):
        WriteConcern.parse(text)


def test_the_deleting_region_forgets_a_tombstone_once_every_peer_holds_it() -> None:
    tombstone = replace(BASE, hlc=Hlc(5, 0, "eu"), deleted=2.0)
    held = {"us": tombstone, "ap": replace(tombstone, hlc=Hlc(6, 0, "ap"))}
    assert tombstone_settled(tombstone, "eu", held)
    assert tombstone_settled(tombstone, "eu", {})  # a region on its own
    assert not tombstone_settled(tombstone, "eu", {**held, "ap": None})  # not applied yet
    assert not tombstone_settled(tombstone, "eu", {**held, "ap": BASE})  # live there still


def test_other_regions_forget_a_tombstone_after_the_deleting_region_did() -> None:
    tombstone = replace(BASE, hlc=Hlc(5, 0, "eu"), deleted=2.0)
    assert not tombstone_settled(tombstone, "us", {"eu": tombstone})
    assert tombstone_settled(tombstone, "us", {"eu": None})
    # The deleting region is no peer any more: every peer holding it is the test.
    assert tombstone_settled(tombstone, "us", {"ap": tombstone})
    assert not tombstone_settled(tombstone, "us", {"ap": None})
