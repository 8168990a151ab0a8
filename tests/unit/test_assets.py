"""Asset ids, storage keys, list cursors and the asset and event values."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.assets import (
    Asset,
    AssetEvent,
    EventType,
    decode_cursor,
    encode_cursor,
    is_id,
    new_id,
    original_key,
    rendition_key,
    rendition_prefix,
    sha256_of,
)
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
times = st.integers(min_value=0, max_value=(1 << 48) - 1)
entropies = st.binary(min_size=10, max_size=10)
ids = st.builds(new_id, times, entropies)


def decoded(asset_id: str) -> int:
    """The 130-bit number an id's characters spell (the test's own reading of the format)."""
    number = 0
    for char in asset_id:
        number = number << 5 | CROCKFORD.index(char)
    return number


@given(times, entropies)
def test_an_id_is_26_characters_of_time_then_entropy(now_ms: int, entropy: bytes) -> None:
    asset_id = new_id(now_ms, entropy)
    assert len(asset_id) == 26 and is_id(asset_id)
    assert decoded(asset_id) == now_ms << 80 | int.from_bytes(entropy, "big")


@given(times, entropies, times, entropies)
def test_ids_sort_by_time(t1: int, e1: bytes, t2: int, e2: bytes) -> None:
    first, second = new_id(t1, e1), new_id(t2, e2)
    if t1 < t2:
        assert first < second
    elif t1 == t2:  # then by entropy: one millisecond's ids still sort the same everywhere
        assert (first < second) == (e1 < e2)


def test_the_first_and_last_ids() -> None:
    assert new_id(0, bytes(10)) == "0" * 26
    assert new_id((1 << 48) - 1, b"\xff" * 10) == "7" + "z" * 25


@given(st.text(alphabet=CROCKFORD + "ILOUiloZ-", min_size=26, max_size=26) | st.text(max_size=30))
def test_is_id_accepts_exactly_what_new_id_makes(text: str) -> None:
    spelled = len(text) == 26 and all(char in CROCKFORD for char in text)
    made = spelled and decoded(text) < 1 << 128
    if made:
        number = decoded(text)
        assert new_id(number >> 80, (number & (1 << 80) - 1).to_bytes(10, "big")) == text
    assert is_id(text) == made


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0" * 25,
        "0" * 27,
        "8" + "0" * 25,
        "z" * 26,
        "0" * 25 + "u",
        "0" * 25 + "A",
        "0" * 26 + "\n",
    ],
)
def test_is_id_refuses(text: str) -> None:
    assert not is_id(text)


@pytest.mark.parametrize("size", [0, 9, 11, 16])
def test_new_id_needs_ten_bytes_of_entropy(size: int) -> None:
    with pytest.raises(ValueError, match=f"expected 10 bytes, received {size}"):
        new_id(0, bytes(size))


def test_storage_keys() -> None:
    digest = sha256_of(b"abc")
    assert digest == hashlib.sha256(b"abc").hexdigest()
    assert original_key(digest) == f"originals/ba/78/{digest}"
    asset_id = new_id(1_765_000_000_000, bytes(range(10)))
    assert rendition_prefix(asset_id) == f"renditions/{asset_id}/"
    assert rendition_key(asset_id, "k1") == f"renditions/{asset_id}/k1"
    assert rendition_key(asset_id, "k1").startswith(rendition_prefix(asset_id))


@given(ids)
def test_a_cursor_round_trips(asset_id: str) -> None:
    cursor = encode_cursor(asset_id)
    assert "=" not in cursor and asset_id not in cursor  # opaque, and URL-safe
    assert decode_cursor(cursor) == asset_id


@given(st.text(max_size=60))
def test_a_cursor_is_only_what_encode_cursor_made(text: str) -> None:
    try:
        asset_id = decode_cursor(text)
    except ValueError:
        return
    assert encode_cursor(asset_id) == text


@given(ids, st.integers(min_value=0, max_value=40), st.characters(codec="ascii"))
def test_a_cursor_with_a_character_slipped_in_is_refused(asset_id: str, at: int, char: str) -> None:
    cursor = encode_cursor(asset_id)
    with pytest.raises(ValueError):
        decode_cursor(cursor[:at] + char + cursor[at:])


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a",  # one character past a whole group: no base64 decodes it
        "é",
        _b64("\xff\xfe"),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),  # not UTF-8
        _b64("a1:"),
        _b64("a2:" + "0" * 26),  # another version
        _b64("a1:" + "0" * 25),
        _b64("a1:" + "8" * 26),
        _b64("a1" + "0" * 26),
        encode_cursor("0" * 26) + "!!",  # the decoder would skip these
        encode_cursor("0" * 26) + "==",
    ],
)
def test_a_cursor_the_api_did_not_return_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor: not one this API returned"):
        decode_cursor(cursor)


def _asset(deleted: float | None = None) -> Asset:
    return Asset(
        id=new_id(1_765_000_000_000, bytes(10)),
        tenant="acme",
        sha256=sha256_of(b"x"),
        format=ImageFormat.PNG,
        width=4,
        height=3,
        bytes=1,
        created=1_765_000_000.0,
        home_region="eu",
        placeholder="1QcSHQRnh493V4dIh4eXh1h4kJUI",
        dominant_color="#ff0000",
        hlc=Hlc(1_765_000_000_000, 0, "eu"),
        deleted=deleted,
    )


def test_a_tombstone_is_not_live() -> None:
    assert _asset().live and not _asset(deleted=1_765_000_001.0).live
    assert _asset().tags == () and dict(_asset().metadata) == {}


def test_an_events_clock_is_its_assets() -> None:
    asset = _asset()
    event = AssetEvent("e1", EventType.STORED, asset)
    assert event.hlc == asset.hlc
    assert [t.value for t in EventType if t.subject == "assets"] == [
        "AssetStored",
        "AssetUpdated",
        "AssetDeleted",
    ]
    assert [t.value for t in EventType if t.subject == "keys"] == ["KeyCreated", "KeyRevoked"]
