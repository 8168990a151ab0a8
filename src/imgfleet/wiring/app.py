"""The HTTP application over a process's dependencies, and how it is served."""

from __future__ import annotations

from imgfleet.http.app import App, HttpConfig, create_app
from imgfleet.http.assets import AssetUrls, assets_router
from imgfleet.http.internal import internal_router
from imgfleet.http.regions import regions_router
from imgfleet.http.server import ServerConfig
from imgfleet.settings import Settings
from imgfleet.wiring.dependencies import Dependencies

READINESS_PROBE = "ready"  # a key the blob store is asked about: whether it answers


def build_app(deps: Dependencies) -> App:
    """The ASGI application: the image route, operations and the JSON API."""
    s = deps.settings
    config = HttpConfig(
        ttl=s.cache.ttl,
        error_ttl=s.cache.error_ttl,
        access_log=s.server.access_log,
        hot_path=s.server.hot_path,
    )
    urls = AssetUrls(
        key_pairs=s.security.key_pairs,
        signature_size=s.security.signature_size,
        presets=tuple(s.security.presets),
        only_presets=s.security.only_presets,
    )
    routers = [
        assets_router(deps.assets, deps.keys, urls),
        internal_router(deps.assets, s.region.secret),
        regions_router(s.region.name, deps.links.replicators, deps.links.pull, deps.links.peers),
    ]
    checks = {
        "metadata store": deps.assets.store.last_position,
        "blob store": lambda: deps.assets.blobs.has(READINESS_PROBE),
        "event bus": deps.relay.bus.check,
    }
    return create_app(deps.delivery, deps.metrics, config, routers, checks)


def server_config(
    settings: Settings, host: str | None = None, port: int | None = None
) -> ServerConfig:
    server = settings.server
    return ServerConfig(
        host=server.host if host is None else host,
        port=server.port if port is None else port,
        hot_path=server.hot_path,
        header_timeout=server.header_timeout,
        max_header_bytes=server.max_header_bytes,
        max_connections=server.max_connections,
        keep_alive_seconds=server.keep_alive_timeout,
        drain_seconds=server.drain_seconds,
    )
