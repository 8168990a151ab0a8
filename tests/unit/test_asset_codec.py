"""The asset codec: records and events round-trip; anything else is a ValueError."""

from __future__ import annotations

import contextlib
import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.asset_codec import asset_from_dict, asset_to_dict, decode_event, encode_event
from imgfleet.core.assets import Asset, AssetEvent, Event, EventType, KeyEvent, new_id
from imgfleet.core.hlc import MAX_COUNTER, Hlc
from imgfleet.core.options import ImageFormat

seconds = st.floats(min_value=0, max_value=4e9, allow_nan=False)
sizes = st.integers(min_value=0, max_value=1 << 40)
hlcs = st.builds(
    Hlc,
    st.integers(min_value=0, max_value=10**13 - 1),
    st.integers(min_value=0, max_value=MAX_COUNTER),
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
)
assets = st.builds(
    Asset,
    id=st.builds(
        new_id,
        st.integers(min_value=0, max_value=(1 << 48) - 1),
        st.binary(min_size=10, max_size=10),
    ),
    tenant=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True),
    sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    format=st.sampled_from(ImageFormat),
    width=sizes,
    height=sizes,
    bytes=sizes,
    created=seconds,
    home_region=st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
    placeholder=st.text(max_size=40),
    dominant_color=st.from_regex(r"#[0-9a-f]{6}", fullmatch=True),
    hlc=hlcs,
    tags=st.lists(st.text(max_size=20), max_size=5).map(tuple),
    metadata=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(
        MappingProxyType
    ),
    deleted=st.none() | seconds,
)
ASSET_EVENTS = [kind for kind in EventType if kind.subject == "assets"]
KEY_EVENTS = [kind for kind in EventType if kind.subject == "keys"]
keys = st.builds(
    ApiKey,
    st.text(max_size=12),
    st.text(max_size=20),
    st.frozensets(st.sampled_from(Scope), min_size=1),
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    seconds,
    st.none() | seconds,
)
events = st.builds(
    AssetEvent, st.text(max_size=30), st.sampled_from(ASSET_EVENTS), assets
) | st.builds(KeyEvent, st.text(max_size=30), st.sampled_from(KEY_EVENTS), keys, hlcs)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@given(assets)
def test_an_asset_round_trips_through_its_dict(asset: Asset) -> None:
    record = asset_to_dict(asset)
    assert asset_from_dict(json.loads(json.dumps(record))) == asset


@given(events)
def test_an_event_round_trips_through_bytes(event: Event) -> None:
    data = encode_event(event)
    assert decode_event(data) == event
    assert encode_event(decode_event(data)) == data  # canonical: same event, same bytes


def test_the_encoding_is_compact_sorted_json() -> None:
    asset = Asset(
        id="0" * 26,
        tenant="acme",
        sha256="a" * 64,
        format=ImageFormat.WEBP,
        width=4,
        height=3,
        bytes=10,
        created=1.5,
        home_region="eu",
        placeholder="p",
        dominant_color="#000000",
        hlc=Hlc(1, 2, "eu"),
        tags=("x",),
        metadata=MappingProxyType({"k": "v"}),
    )
    data = encode_event(AssetEvent("e", EventType.DELETED, asset))
    assert data.startswith(b'{"asset":{"bytes":10,"created":1.5,"deleted":null,')
    assert data.endswith(b'"width":4},"id":"e","type":"AssetDeleted"}')


_EVENT = AssetEvent(
    "e1",
    EventType.STORED,
    Asset(
        id="0" * 26,
        tenant="acme",
        sha256="a" * 64,
        format=ImageFormat.PNG,
        width=4,
        height=3,
        bytes=10,
        created=1.5,
        home_region="eu",
        placeholder="p",
        dominant_color="#ff0000",
        hlc=Hlc(1_765_000_000_000, 0, "eu"),
        deleted=2.5,
    ),
)


def _valid_record() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(encode_event(_EVENT))["asset"]
    return record


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",  # not UTF-8
        b"null",
        b"[]",
        b'"text"',
        b"{}",
        b'{"id":"e","type":"AssetStored"}',
        b'{"id":"e","type":"AssetBurned","asset":{}}',
        b'{"id":"e","type":"AssetStored","asset":[]}',
        b'{"id":"e","type":"AssetStored","asset":"x"}',
        b'{"id":"e","type":"KeyCreated","asset":{}}',  # a key's event without its key
        b'{"id":"e","type":"KeyRevoked","key":{"id":"k"},"hlc":"1"}',
        b"[" * 100_000 + b"]" * 100_000,  # nested past the recursion limit
    ],
)
def test_a_malformed_event_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"not an event|not an asset|not a key|not a valid EventT"):
        decode_event(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", "bmp"),
        ("width", "wide"),
        ("width", None),
        ("width", float("inf")),  # json writes it as Infinity, which it reads back
        ("height", float("nan")),
        ("created", 10**400),  # too large for a float
        ("created", [1]),
        ("deleted", "yesterday"),
        ("hlc", "yesterday"),
        ("hlc", 5),
        ("tags", 5),
        ("metadata", []),
        ("metadata", None),
    ],
)
def test_a_record_with_a_bad_field_is_a_value_error(field: str, value: object) -> None:
    record = _valid_record()
    record[field] = value
    with pytest.raises(ValueError):
        asset_from_dict(record)
    body = {"id": "e", "type": "AssetStored", "asset": record}
    with pytest.raises(ValueError):
        decode_event(json.dumps(body).encode())


@pytest.mark.parametrize("field", sorted(asset_to_dict(_EVENT.asset)))
def test_a_record_missing_a_field_is_a_value_error(field: str) -> None:
    record = _valid_record()
    del record[field]
    with pytest.raises(ValueError, match="not an asset record"):
        asset_from_dict(record)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_value_error_or_an_event(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_event(data)


@given(json_values)
def test_arbitrary_json_is_a_value_error_or_an_event(value: object) -> None:
    with contextlib.suppress(ValueError):
        decode_event(json.dumps(value).encode())


@given(st.sampled_from(sorted(asset_to_dict(_EVENT.asset))), json_values)
def test_a_record_with_any_value_in_a_field_is_a_value_error_or_an_asset(
    field: str, value: object
) -> None:
    body = {"id": "e", "type": "AssetStored", "asset": {**_valid_record(), field: value}}
    with contextlib.suppress(ValueError):
        decode_event(json.dumps(body).encode())
