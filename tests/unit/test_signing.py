import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.errors import BadSignature
from imgfleet.core.signing import sign, verify

VECTOR_PATH = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"


def test_imgproxy_documented_vector() -> None:
    signature = sign(VECTOR_PATH, b"secret", b"hello")
    assert signature == "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"
    verify(signature, VECTOR_PATH, [(b"secret", b"hello")])


def test_vector_full_and_truncated() -> None:
    assert sign("/asd", b"test-key", b"test-salt") == "oWaL7QoW5TsgbuiS9-5-DI8S3Ibbo1gdB2SteJh3a20"
    assert sign("/asd", b"test-key", b"test-salt", size=8) == "oWaL7QoW5Ts"
    verify("oWaL7QoW5Ts", "/asd", [(b"test-key", b"test-salt")], size=8)


def test_rotation_accepts_any_configured_pair() -> None:
    pairs = [(b"new-key", b"new-salt"), (b"test-key", b"test-salt")]
    verify(sign("/asd", b"test-key", b"test-salt"), "/asd", pairs)
    verify(sign("/asd", b"new-key", b"new-salt"), "/asd", pairs)


@pytest.mark.parametrize(
    "signature",
    ["", "insecure", "oWaL7QoW5Ts", "oWaL7QoW5TsgbuiS9-5-DI8S3Ibbo1gdB2SteJh3a2x"],
)
def test_wrong_signatures_are_refused(signature: str) -> None:
    with pytest.raises(BadSignature) as caught:
        verify(signature, "/asd", [(b"test-key", b"test-salt")])
    assert caught.value.status == 403


def test_signature_covers_the_path() -> None:
    good = sign("/asd", b"test-key", b"test-salt")
    with pytest.raises(BadSignature):
        verify(good, "/asde", [(b"test-key", b"test-salt")])


def test_no_key_accepts_anything() -> None:
    verify("insecure", "/whatever", [])


@given(st.text(max_size=40), st.text(min_size=1, max_size=80))
def test_verify_only_raises_bad_signature(signature: str, path: str) -> None:
    with contextlib.suppress(BadSignature):
        verify(signature, path, [(b"k", b"s")])
