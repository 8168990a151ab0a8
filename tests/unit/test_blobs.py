"""core.blobs: the key grammar every blob store shares, and the sha256 check of reads."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.assets import original_key, rendition_key
from imgfleet.core.blobs import (
    MAX_KEY_LENGTH,
    MAX_SEGMENT_LENGTH,
    blob_key,
    blob_prefix,
    is_blob_key,
    verified,
)
from imgfleet.core.errors import BlobCorrupt

SEGMENT_CHARACTERS = string.ascii_letters + string.digits + "_"
segments = st.text(SEGMENT_CHARACTERS, min_size=1, max_size=12)
keys = st.lists(segments, min_size=1, max_size=6).map("/".join)


def test_the_asset_layout_s_keys_are_keys() -> None:
    sha256 = hashlib.sha256(b"x").hexdigest()
    assert blob_key(original_key(sha256)) == original_key(sha256)
    assert is_blob_key(rendition_key("01jdq3v5c8x9k2m4n6p8r0s2t4", sha256))


@given(keys)
def test_segments_of_letters_digits_and_underscores_are_keys(key: str) -> None:
    assert blob_key(key) == key and is_blob_key(key)


@given(keys, keys)
def test_key_order_is_folder_order(one: str, other: str) -> None:
    """Text order equals the order of a walk folder by folder: what filesystems list."""
    assert (one < other) == (one.split("/") < other.split("/"))


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/a",
        "a/",
        "a//b",
        ".",
        "..",
        "a/../b",
        "a/./b",
        ".tmp",
        "a.b",
        "a-b",
        "a b",
        "a\\b",
        "é",
        "a\x00",
        "x" * (MAX_SEGMENT_LENGTH + 1),
        "/".join(["x" * 200] * 6),  # segments that fit, a key that does not
    ],
)
def test_anything_else_is_refused_naming_the_key(key: str) -> None:
    assert not is_blob_key(key)
    with pytest.raises(ValueError, match=r"^blob key: "):
        blob_key(key)


def test_the_longest_key_fits() -> None:
    key = "/".join(["x" * MAX_SEGMENT_LENGTH] * 3 + ["y" * 254, "z"])
    assert len(key) == MAX_KEY_LENGTH and blob_key(key) == key


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b", "a/b/", "originals/ab/c"])
def test_a_prefix_is_whole_segments_then_the_start_of_one(prefix: str) -> None:
    assert blob_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/a", "a//", "a//b", "../", "a/../", ".x", "a/.", "a-"])
def test_a_malformed_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"^blob prefix: "):
        blob_prefix(prefix)


def test_verified_bytes_pass_and_others_are_corrupt() -> None:
    data = b"stored bytes"
    digest = hashlib.sha256(data).hexdigest()
    assert verified("k", data, None) == data
    assert verified("k", data, digest) == data
    with pytest.raises(BlobCorrupt, match="blob k: its bytes do not match their sha256"):
        verified("k", data + b".", digest)


@pytest.mark.parametrize("sha256", ["", "abc", "A" * 64, "g" * 64, "a" * 65])
def test_a_malformed_sha256_is_a_value_error(sha256: str) -> None:
    with pytest.raises(ValueError, match="sha256: expected 64 lowercase hex digits"):
        verified("k", b"", sha256)
