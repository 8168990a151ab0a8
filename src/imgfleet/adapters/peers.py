"""Other regions' internal endpoints over HTTP (`ports.Peers`).

Each peer is a base URL (its nodes, or a load balancer in front of them); every call carries
the cluster's shared secret as a bearer token and runs under one timeout, connect included.
Peers are trusted to the extent of that secret only: what they send is checked by the caller
(an original against its sha256). In production the links run over TLS (an `https://` base
URL) or a private network.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from imgfleet.core.errors import StorageUnavailable

ORIGINALS = "/v1/internal/originals/"


class HttpPeers:
    def __init__(
        self,
        urls: Mapping[str, str],
        secret: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._client = httpx.AsyncClient(
            headers={"authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    async def original(self, peer: str, sha256: str) -> bytes | None:
        url = f"{self._urls[peer]}{ORIGINALS}{sha256}"
        try:
            answer = await self._client.get(url)
        except httpx.HTTPError as error:
            raise StorageUnavailable(f"peer {peer}: {type(error).__name__}") from error
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise StorageUnavailable(f"peer {peer}: answered {answer.status_code} for an original")
        return answer.content

    async def aclose(self) -> None:
        await self._client.aclose()
