"""Other regions' internal endpoints over HTTP (`ports.Peers`).

Each peer is a base URL (its nodes, or a load balancer in front of them); every call carries
the cluster's shared secret as a bearer token and runs under one timeout, connect included,
through the peer's circuit breaker (purgatory): after `BREAKER_FAILURES` failures in a row
the peer is not called for `BREAKER_SECONDS`, then one call tries it again. Peers are
trusted to the extent of that secret only: what they send is checked by the caller (an
original against its sha256). In production the links run over TLS (an `https://` base
URL) or a private network.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from imgfleet.core.asset_codec import asset_from_dict
from imgfleet.core.assets import Asset
from imgfleet.core.errors import StorageUnavailable

PREFIX = "/v1/internal"
BREAKER_FAILURES = 3
BREAKER_SECONDS = 5.0


class HttpPeers:
    def __init__(
        self,
        urls: Mapping[str, str],
        secret: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._urls = {name: url.rstrip("/") + PREFIX for name, url in urls.items()}
        self._client = httpx.AsyncClient(
            headers={"authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=BREAKER_FAILURES, default_ttl=BREAKER_SECONDS
        )
        self._states = dict.fromkeys(self._urls, "closed")  # as of each peer's last call

    async def original(self, peer: str, sha256: str) -> bytes | None:
        answer = await self._get(peer, f"/originals/{sha256}")
        return None if answer is None else answer.content

    async def asset(self, peer: str, asset_id: str) -> Asset | None:
        answer = await self._get(peer, f"/assets/{asset_id}")
        if answer is None:
            return None
        try:
            return asset_from_dict(answer.json())
        except ValueError as error:
            raise StorageUnavailable(f"peer {peer}: not an asset record: {error}") from None

    def breakers(self) -> dict[str, str]:
        return dict(self._states)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, peer: str, path: str) -> httpx.Response | None:
        """The peer's answer; None for a 404; `StorageUnavailable` for anything but 200."""
        breaker = await self._breakers.get_breaker(peer)
        try:
            async with breaker:
                try:
                    answer = await self._client.get(self._urls[peer] + path)
                except httpx.HTTPError as error:
                    raise StorageUnavailable(f"peer {peer}: {type(error).__name__}") from error
                if answer.status_code not in (200, 404):
                    raise StorageUnavailable(f"peer {peer}: answered {answer.status_code}")
        except OpenedState:
            raise StorageUnavailable(f"peer {peer}: circuit open after failures") from None
        finally:
            self._states[peer] = str(breaker.context.state)
        return None if answer.status_code == 404 else answer
