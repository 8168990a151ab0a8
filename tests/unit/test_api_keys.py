"""API keys: bearer tokens, their digests, scopes, revocation and tenant names."""

from __future__ import annotations

import base64
import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.api_keys import (
    ALL_SCOPES,
    ApiKey,
    Scope,
    check_tenant,
    matches,
    parse_token,
    secret_digest,
    token,
)

key_ids = st.text(alphabet=string.digits + string.ascii_lowercase, min_size=12, max_size=12)
# What a key's creator draws: 32 random bytes, URL-safe base64 without padding (43 chars).
secrets_ = st.binary(min_size=32, max_size=32).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
)
KEY_ID = "k3y0000000ab"
SECRET = "A" * 40 + "-_9"


def key(scopes: frozenset[Scope] = ALL_SCOPES, revoked: float | None = None) -> ApiKey:
    return ApiKey(KEY_ID, "acme", scopes, secret_digest(SECRET), 1_765_000_000.0, revoked)


@given(key_ids, secrets_)
def test_a_token_parses_back_to_its_id_and_secret_digest(key_id: str, secret: str) -> None:
    text = token(key_id, secret)
    assert text.startswith("ifk_")
    assert parse_token(text) == (key_id, hashlib.sha256(secret.encode()).hexdigest())


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"ifk_{KEY_ID}",
        f"ifk_{KEY_ID}_",
        f"ifx_{KEY_ID}_{SECRET}",  # another prefix
        f"IFK_{KEY_ID}_{SECRET}",
        f"ifk_{KEY_ID[:-1]}_{SECRET}",  # short id
        f"ifk_{KEY_ID}a_{SECRET}",  # long id
        f"ifk_{KEY_ID.upper()}_{SECRET}",
        f"ifk_{KEY_ID}_{SECRET[:-1]}",  # short secret
        f"ifk_{KEY_ID}_{SECRET}A",  # long secret
        f"ifk_{KEY_ID}_{SECRET[:-1]}=",  # padding is not part of a secret
        f"ifk_{KEY_ID}_{SECRET[:-1]}+",  # nor standard base64's alphabet
        f"ifk_{KEY_ID}_{SECRET}\n",
        f"Bearer ifk_{KEY_ID}_{SECRET}",
    ],
)
def test_a_malformed_token_is_none(text: str) -> None:
    assert parse_token(text) is None


@given(st.text(max_size=80))
def test_parse_token_never_raises_and_takes_only_well_formed_tokens(text: str) -> None:
    parsed = parse_token(text)
    if parsed is not None:
        assert token(parsed[0], text[17:]) == text and len(text) == 60


def test_a_secret_is_checked_by_its_digest() -> None:
    parsed = parse_token(token(KEY_ID, SECRET))
    assert parsed is not None and matches(key(), parsed[1])
    other = parse_token(token(KEY_ID, "B" * 43))
    assert other is not None and not matches(key(), other[1])


@pytest.mark.parametrize("scope", list(Scope))
def test_a_live_key_allows_its_scopes(scope: Scope) -> None:
    assert key().allows(scope)
    assert key(frozenset({scope})).allows(scope)


def test_a_key_refuses_scopes_it_lacks() -> None:
    read_only = key(frozenset({Scope.READ}))
    assert not read_only.allows(Scope.WRITE) and not read_only.allows(Scope.DELETE)
    assert not any(key(frozenset()).allows(scope) for scope in Scope)


@pytest.mark.parametrize("scope", list(Scope))
def test_a_revoked_key_allows_nothing(scope: Scope) -> None:
    assert not key(revoked=1_765_000_001.0).allows(scope)


def test_scopes_are_named_as_the_api_names_them() -> None:
    assert sorted(ALL_SCOPES) == ["assets:delete", "assets:read", "assets:write"]


@pytest.mark.parametrize("name", ["a", "0", "acme", "acme-eu_2", "9" * 63])
def test_a_valid_tenant_is_returned(name: str) -> None:
    assert check_tenant(name) == name


@pytest.mark.parametrize(
    "name", ["", "-acme", "_acme", "Acme", "ac me", "acme.eu", "a" * 64, "acme\n", "ácme"]
)
def test_an_invalid_tenant_is_refused_naming_what_was_received(name: str) -> None:
    with pytest.raises(ValueError, match=r"tenant: expected 1-63 .* received"):
        check_tenant(name)


TENANT_CHARS = string.ascii_lowercase + string.digits + "_-"


@given(st.text(alphabet=TENANT_CHARS + "A.é ", max_size=70) | st.text(max_size=70))
def test_check_tenant_accepts_exactly_its_documented_names(name: str) -> None:
    valid = (
        1 <= len(name) <= 63 and all(char in TENANT_CHARS for char in name) and name[0] not in "_-"
    )
    if valid:
        assert check_tenant(name) == name
    else:
        with pytest.raises(ValueError):
            check_tenant(name)
