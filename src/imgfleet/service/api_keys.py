"""API keys: created and revoked by operators (`imgfleet keys`), checked on every API call.

A key is looked up on every request, not cached, so a revocation holds from the next request
on every node that shares the metadata store, and on every other region's nodes once its
`KeyRevoked` event has replicated there.
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
from imgfleet.core.assets import EventType, KeyEvent, new_id
from imgfleet.core.errors import MissingScope, Unauthorized
from imgfleet.ports import Clock, MetadataStore
from imgfleet.service.hlc_clock import HlcClock

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class KeyService:
    def __init__(
        self,
        store: MetadataStore,
        clock: Clock,
        region: str,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.store = store
        self.clock = clock
        self.hlc = HlcClock(region, clock)  # keys replicate to every region with their events
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
        await self.store.add_key(
            KeyEvent(self._event_id(), EventType.KEY_CREATED, key, self.hlc.now())
        )
        return key, token(key_id, secret)

    async def list(self, tenant: str | None = None) -> Sequence[ApiKey]:
        return await self.store.keys(tenant)

    async def revoke(self, key_id: str) -> ApiKey | None:
        return await self.store.revoke_key(
            key_id, self.clock.time(), self._event_id(), self.hlc.now()
        )

    def _event_id(self) -> str:
        return new_id(int(self.clock.time() * 1000), self.entropy(10))

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
