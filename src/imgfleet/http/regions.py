"""`GET /v1/regions`: this region and its replication from each peer, as JSON (what
`imgfleet geo status` shows, and what `/metrics` exports as `imgfleet_replication_*`).

Open like `/metrics`: it names peers and counts events, never an address or a secret.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from fastapi import APIRouter
from pydantic import BaseModel, Field

from imgfleet.ports import Peers
from imgfleet.service.pull_through import PullCounts, PullThrough
from imgfleet.service.replicator import Replicator


class PeerBody(BaseModel):
    name: str
    connected: bool = Field(description="The peer's stream answered at the last fetch")
    lag_seconds: float = Field(description="Of the last event applied: its clock to its apply")
    lag_p50_seconds: float | None = Field(description="Over the last 1,000 events applied")
    lag_p99_seconds: float | None
    lag_events: int | None = Field(description="Events of the peer not yet applied here")
    pending_bytes: int = Field(description="Originals of fetched events not yet applied")
    watermark: str | None = Field(description="Clock of the newest event applied")
    applied: int
    repeated: int = Field(description="Events delivered again after they were applied")
    held_back: int = Field(description="Events handed back to come again later")
    pulled: int = Field(description="Originals pulled from the peer by replication")
    pulled_bytes: int
    retries: int = Field(description="Fetches from the peer's stream that failed and were retried")
    pulled_through: int = Field(description="Assets asked for here and pulled from the peer")
    hedged: int = Field(description="Pull-through asks sent while a nearer peer was silent")
    failovers: int = Field(
        description="Pull-throughs the peer answered in place of the nearest (failed, slow, "
        "or lacking the asset)"
    )
    breaker: str | None = Field(description="The peer's circuit: closed, opened, half-opened")


class RegionsBody(BaseModel):
    region: str
    peers: list[PeerBody]
    pull_through_misses: int = Field(description="Assets asked for that no peer held")


def regions_router(
    region: str,
    replicators: Sequence[Replicator],
    pull: PullThrough | None,
    peers: Peers | None,
) -> APIRouter:
    router = APIRouter(prefix="/regions", tags=["regions"])

    @router.get("", response_model=RegionsBody)
    async def regions() -> RegionsBody:
        """This region, and its replication from each peer."""
        breakers = {} if peers is None else peers.breakers()
        counts = PullCounts() if pull is None else pull.counts
        return RegionsBody(
            region=region,
            peers=[_peer(r, counts, breakers.get(r.peer)) for r in replicators],
            pull_through_misses=0 if pull is None else pull.counts.missed,
        )

    return router


def _peer(replicator: Replicator, counts: PullCounts, breaker: str | None) -> PeerBody:
    state = replicator.state
    lags = sorted(state.lags)
    p50 = p99 = None
    if len(lags) >= 2:
        cuts = statistics.quantiles(lags, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
    elif lags:
        p50 = p99 = lags[0]
    return PeerBody(
        name=replicator.peer,
        connected=state.connected,
        lag_seconds=state.lag_seconds,
        lag_p50_seconds=p50,
        lag_p99_seconds=p99,
        lag_events=state.pending_events,
        pending_bytes=state.pending_bytes,
        watermark=None if state.watermark is None else str(state.watermark),
        applied=state.applied,
        repeated=state.repeated,
        held_back=state.held_back,
        pulled=state.pulled,
        pulled_bytes=state.pulled_bytes,
        retries=state.retries,
        pulled_through=counts.pulled.get(replicator.peer, 0),
        hedged=counts.hedged.get(replicator.peer, 0),
        failovers=counts.failovers.get(replicator.peer, 0),
        breaker=breaker,
    )
