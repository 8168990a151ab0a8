"""URL signatures exactly as imgproxy makes them.

signature = base64url_nopad(HMAC-SHA256(key, salt + path)[:size]), where `path` is the URL
path after the signature segment, starting with "/". Several key/salt pairs are tried in
order so keys can rotate. With no key configured every signature is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from imgfleet.core.errors import BadSignature

KeyPair = tuple[bytes, bytes]


def sign(path: str, key: bytes, salt: bytes, size: int = 32) -> str:
    """The signature of `path` (which starts with "/") for one key/salt pair."""
    message = salt + path.encode("utf-8", "surrogateescape")  # the bytes as received
    digest = hmac.new(key, message, hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(signature: str, path: str, pairs: Sequence[KeyPair], size: int = 32) -> None:
    """Raise BadSignature unless `signature` matches `path` under one of `pairs`."""
    if not pairs:
        return
    given = signature.encode()
    matched = False
    for key, salt in pairs:
        # Compare against every pair (no early exit) so timing does not reveal which failed.
        matched |= hmac.compare_digest(given, sign(path, key, salt, size).encode())
    if not matched:
        raise BadSignature("invalid signature")


def signed(path: str, pairs: Sequence[KeyPair], size: int = 32) -> str:
    """`path` with the signature a client would put in front of it, by the first pair; with
    no pairs, `/insecure` (any signature passes when the server has no keys)."""
    if not pairs:
        return "/insecure" + path
    key, salt = pairs[0]
    return "/" + sign(path, key, salt, size) + path
