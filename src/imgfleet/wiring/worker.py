"""A worker over a process's dependencies: the service's background work, no web shell."""

from __future__ import annotations

from imgfleet.service.worker import Worker
from imgfleet.wiring.dependencies import Dependencies


def build_worker(deps: Dependencies) -> Worker:
    """As many deliveries at once as the render pool has workers and queue places."""
    render = deps.settings.render
    return Worker(deps.delivery, render.pool_size + render.queue_size)
