"""Operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imgfleet.metrics import Metrics
from imgfleet.service.admission import Admission

_METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Readiness:
    """Whether this node takes traffic: set by the app's lifespan."""

    ready: bool = False


def ops_routes(readiness: Readiness, metrics: Metrics, admission: Admission) -> list[Route]:
    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def ready(request: Request) -> Response:
        if readiness.ready:
            return PlainTextResponse("ready\n")
        return PlainTextResponse("starting or stopping\n", status_code=503)

    async def exposition(request: Request) -> Response:
        metrics.render_load(admission.running, admission.queued, admission.memory_in_use)
        return Response(metrics.exposition(), media_type=_METRICS_TYPE)

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/metrics", exposition, methods=["GET"], name="metrics"),
    ]
