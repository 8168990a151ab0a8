"""Operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imgfleet.metrics import Metrics
from imgfleet.service.admission import Admission

_METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


CHECK_SECONDS = 1.0  # a backend that does not answer a readiness check in this is down


@dataclass(slots=True)
class Readiness:
    """Whether this node should be sent traffic: started (the app's lifespan), not draining
    (a stop signal came), and every backend it needs answering (`checks`: name → a call
    that raises if the backend cannot be used now)."""

    ready: bool = False
    draining: bool = False
    checks: Mapping[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)

    async def problems(self) -> list[str]:
        """What keeps this node from serving; empty when it is ready."""
        if not self.ready:
            return ["starting or stopping"]
        if self.draining:
            return ["draining"]
        answers = await asyncio.gather(
            *(self._check(name, check) for name, check in self.checks.items())
        )
        return [answer for answer in answers if answer is not None]

    @staticmethod
    async def _check(name: str, check: Callable[[], Awaitable[object]]) -> str | None:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await check()
        except TimeoutError:
            return f"{name}: no answer in {CHECK_SECONDS:g} s"
        except Exception as error:  # whatever a backend raises, the node is not ready
            return f"{name}: {error}"
        return None


def ops_routes(readiness: Readiness, metrics: Metrics, admission: Admission) -> list[Route]:
    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def ready(request: Request) -> Response:
        problems = await readiness.problems()
        if not problems:
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)

    async def exposition(request: Request) -> Response:
        metrics.render_load(admission.running, admission.queued, admission.memory_in_use)
        return Response(metrics.exposition(), media_type=_METRICS_TYPE)

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/metrics", exposition, methods=["GET"], name="metrics"),
    ]
