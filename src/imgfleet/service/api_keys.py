"""API keys: created and revoked by operators (`imgfleet keys`), checked on every API call.

A key is looked up on every request, not cached, so a revocation holds from the next request
on every node that shares the metadata store.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Collection, Sequence

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
from imgfleet.core.errors import MissingScope, Unauthorized
from imgfleet.ports import Clock, MetadataStore

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class KeyService:
    def __init__(
        self, store: MetadataStore, clock: Clock, entropy: Callable[[int], bytes] = os.urandom
    ) -> None:
        self.store = store
        self.clock = clock
        self.entropy = entropy

    async def create(
        self, tenant: str, scopes: Collection[Scope] = ALL_SCOPES
    ) -> tuple[ApiKey, str]:
        """A new key and its bearer token, which is shown this once and stored only hashed."""
        check_tenant(tenant)
        if not scopes:
            raise ValueError("scopes: expected at least one")
        key_id = "".join(_ALPHABET[byte % 36] for byte in self.entropy(12))
        secret = base64.urlsafe_b64encode(self.entropy(32)).decode().rstrip("=")
        key = ApiKey(key_id, tenant, frozenset(scopes), secret_digest(secret), self.clock.time())
        await self.store.add_key(key)
        return key, token(key_id, secret)

    async def list(self, tenant: str | None = None) -> Sequence[ApiKey]:
        return await self.store.keys(tenant)

    async def revoke(self, key_id: str) -> ApiKey | None:
        return await self.store.revoke_key(key_id, self.clock.time())

    async def authenticate(self, bearer: str | None, scope: Scope) -> ApiKey:
        """The key of an `Authorization: Bearer …` header's token, if it may act in `scope`."""
        if not bearer:
            raise Unauthorized("Authorization: expected 'Bearer <API key>'; none was sent")
        parsed = parse_token(bearer.strip())
        if parsed is None:
            raise Unauthorized("Authorization: expected 'Bearer ifk_…', an imgfleet API key")
        key_id, digest = parsed
        key = await self.store.key(key_id)
        if key is None or not matches(key, digest):
            raise Unauthorized("Authorization: unknown API key")
        if key.revoked is not None:
            raise Unauthorized("Authorization: this API key was revoked")
        if not key.allows(scope):
            raise MissingScope(f"this API key lacks the scope {scope.value!r}")
        return key
