"""The stored form of a rendition: read back whole, or not at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.rendition import Rendition, from_stored, stored_form

MEDIA_TYPES = st.sampled_from(["image/jpeg", "image/webp", "image/avif", "image/svg+xml"])


@given(st.binary(max_size=4096), MEDIA_TYPES)
def test_a_stored_rendition_reads_back_as_it_was(body: bytes, media_type: str) -> None:
    assert from_stored(stored_form(Rendition(body, media_type))) == Rendition(body, media_type)


@given(st.binary(min_size=1, max_size=4096), st.data())
def test_a_torn_rendition_reads_as_missing(body: bytes, data: st.DataObject) -> None:
    """What a crash leaves of an unflushed write (cut short, or zeros where the bytes were
    to be) is never served."""
    blob = stored_form(Rendition(body, "image/jpeg"))
    cut = data.draw(st.integers(0, len(blob) - 1))
    assert from_stored(blob[:cut]) is None
    zeroed = blob[:cut] + bytes(len(blob) - cut)
    if zeroed != blob:
        assert from_stored(zeroed) is None


def test_a_blob_of_another_form_reads_as_missing() -> None:
    assert from_stored(b"image/jpeg\n\xff\xd8\xff") is None  # no checksum
    assert from_stored(b"\n" + b"x" * 10) is None
    assert from_stored(b" " + b"0" * 64 + b"\nbody") is None  # no media type
