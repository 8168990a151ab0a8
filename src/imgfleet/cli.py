"""The `imgfleet` command: parse arguments, call one function."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from pydantic import ValidationError

from imgfleet.core.errors import ImgfleetError
from imgfleet.core.signing import signed
from imgfleet.settings import Settings, env_name, reference


def load_settings() -> Settings:
    """Settings from the environment (and IMGFLEET_CONFIG); exits with the bad field named."""
    try:
        return Settings()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            loc = [str(p) for p in problem["loc"]]
            name = env_name(loc[0], loc[1]) if len(loc) >= 2 else f"IMGFLEET_{loc[0].upper()}"
            lines.append(f"invalid setting {name}: {problem['msg']}")
        raise SystemExit("\n".join(lines)) from None
    except (OSError, ValueError) as error:
        raise SystemExit(f"invalid settings: {error}") from None


def check(settings: Settings) -> None:
    """Build everything the service would build at start, so bad settings fail here."""
    from imgfleet.wiring.backends import REGION_CACHES
    from imgfleet.wiring.config import delivery_config, s3_source_config

    root = settings.sources.local_root
    if root is not None and not root.is_dir():
        raise SystemExit(f"invalid setting IMGFLEET_SOURCES__LOCAL_ROOT: {root} is not a folder")
    try:
        delivery_config(settings)
    except (ImgfleetError, ValueError) as error:
        raise SystemExit(f"invalid setting IMGFLEET_SECURITY__PRESETS: {error}") from None
    try:
        s3_source_config(settings.sources)
    except ValueError as error:
        raise SystemExit(f"invalid setting {error}") from None
    if settings.cache.region:
        try:
            cache = REGION_CACHES.open(settings.cache.region)  # parses; connects lazily
        except ValueError as error:
            raise SystemExit(f"invalid setting {error}") from None
        asyncio.run(cache.aclose())


def serve(settings: Settings, host: str | None, port: int | None) -> None:
    from imgfleet.http import server
    from imgfleet.logs import configure_logging
    from imgfleet.wiring.app import build_app, server_config
    from imgfleet.wiring.dependencies import open_dependencies

    check(settings)
    configure_logging(settings.server.log_level)
    sys.setswitchinterval(settings.render.switch_interval)

    async def main() -> None:
        async with open_dependencies(settings) as deps:
            await server.HttpServer(build_app(deps), server_config(settings, host, port)).serve()

    server.run(main())


def warm(settings: Settings, paths: Sequence[str], accept: str) -> None:
    """Render delivery paths into the region cache, one JSON line per path."""
    import orjson

    from imgfleet.wiring.dependencies import open_dependencies
    from imgfleet.wiring.worker import build_worker

    check(settings)
    if not settings.cache.region:
        raise SystemExit(
            "imgfleet warm: set IMGFLEET_CACHE__REGION (e.g. redis://127.0.0.1:6379/0): without "
            "a region cache the renditions would end with this process"
        )
    if list(paths) in ([], ["-"]):
        paths = [line.strip() for line in sys.stdin if line.strip()]

    async def main() -> list[bool]:
        async with open_dependencies(settings) as deps:
            results = await build_worker(deps).warm(paths, accept)
        for result in results:
            line = {"path": result.path, "status": result.status, "cache": result.tier}
            print(orjson.dumps({**line, "detail": result.detail}).decode())
        return [result.status == 200 for result in results]

    if not all(asyncio.run(main())):
        raise SystemExit(1)


def signed_path(settings: Settings, options: str, source: str, ext: str | None, plain: bool) -> str:
    """The path a client would request: /<signature>/<options>/<source>."""
    if plain:
        tail = "plain/" + quote(source, safe=":/?=&") + (f"@{ext}" if ext else "")
    else:
        encoded = base64.urlsafe_b64encode(source.encode()).rstrip(b"=").decode()
        tail = encoded + (f".{ext}" if ext else "")
    path = "/" + "/".join(part for part in (options.strip("/"), tail) if part)
    return signed(path, settings.security.key_pairs, settings.security.signature_size)


def manage_keys(settings: Settings, args: argparse.Namespace) -> None:
    """`imgfleet keys create|list|revoke`, against the metadata store in settings."""
    import orjson

    from imgfleet.adapters.clock import SystemClock
    from imgfleet.core.api_keys import ALL_SCOPES, Scope
    from imgfleet.service.api_keys import KeyService
    from imgfleet.wiring.dependencies import open_metadata

    async def main() -> None:
        async with open_metadata(settings) as store:
            keys = KeyService(store, SystemClock(), settings.region.name)
            if args.action == "create":
                scopes = frozenset(Scope(s) for s in args.scope) if args.scope else ALL_SCOPES
                key, bearer = await keys.create(args.tenant, scopes)
                print(bearer)
                print(
                    f"key {key.id} for tenant {key.tenant} "
                    f"({', '.join(sorted(key.scopes))}): shown once, stored hashed",
                    file=sys.stderr,
                )
            elif args.action == "list":
                for key in await keys.list(args.tenant):
                    line = {
                        "id": key.id,
                        "tenant": key.tenant,
                        "scopes": sorted(key.scopes),
                        "created": key.created,
                        "revoked": key.revoked,
                    }
                    print(orjson.dumps(line).decode())
            elif await keys.revoke(args.key_id) is None:
                raise SystemExit(f"imgfleet keys revoke: no key {args.key_id!r}")
            else:
                print(f"revoked {args.key_id}")

    try:
        asyncio.run(main())
    except (ImgfleetError, ValueError) as error:
        message = error.public_message if isinstance(error, ImgfleetError) else str(error)
        raise SystemExit(f"imgfleet keys: {message}") from None


def write_docs(folder: Path) -> None:
    """Regenerate docs/settings.md and docs/url.md from the code they describe."""
    from imgfleet.core.option_reference import reference as url_reference

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.md").write_text(reference())
    (folder / "url.md").write_text(url_reference())
    print(f"wrote {folder / 'settings.md'} and {folder / 'url.md'}")


def geo(args: argparse.Namespace) -> None:
    """`imgfleet geo ...`: a local cluster (`imgfleet.geo`)."""
    from imgfleet.geo import control

    try:
        if args.action == "up":
            try:
                rtt = control.seconds(args.rtt)
                bandwidth = None if args.bandwidth is None else control.rate(args.bandwidth)
            except ValueError as error:
                raise SystemExit(f"imgfleet geo up: {error}") from None
            services = (args.postgres, args.redis) if args.backends == "services" else None
            state = control.up(args.dir, args.regions, rtt, bandwidth, services)
            print(
                f"{len(state['regions'])} regions, {rtt * 1000:g} ms apart, on "
                f"{args.backends} backends:"
            )
            for region in state["regions"]:
                print(f"  {region['name']}: {region['url']}")
            if state.get("front_door"):
                print(f"front door (HAProxy): {state['front_door']['url']}")
            print(f"signing key and salt: {args.dir / 'plan.json'}; stop: imgfleet geo down")
        elif args.action == "status":
            state = control.status(args.dir)
            print(json.dumps(state, indent=2) if args.json else control.table(state))
            if args.follow:
                control.follow(args.dir, state["backlog"])
        elif args.action == "down":
            control.down(args.dir)
            print("cluster stopped")
        elif args.action == "cut":
            control.command(args.dir, {"command": "cut", "region": args.region})
            print(f"{args.region} cut off")
        elif args.action == "url":
            print(control.url(args.dir, args.region))
        elif args.action == "env":
            for name, value in control.environment(args.dir, args.region).items():
                print(f"export {name}={shlex.quote(value)}")
        elif args.action == "heal":
            control.command(args.dir, {"command": "heal", "region": args.region})
            print(f"{args.region or 'every region'} healed")
    except control.GeoError as error:
        raise SystemExit(f"imgfleet geo {args.action}: {error}") from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="imgfleet", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (same as IMGFLEET_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    p_serve = commands.add_parser("serve", help="run the HTTP service")
    p_serve.add_argument("--host", help="bind address (default: settings, 127.0.0.1)")
    p_serve.add_argument(
        "--port", type=int, help="TCP port (default: settings, 8080; 0: a free one, logged)"
    )

    p_sign = commands.add_parser("sign", help="print a signed URL")
    p_sign.add_argument("options", help="processing options, e.g. rs:fill:300:200/q:80")
    p_sign.add_argument("source", help="source URL, e.g. local:///cat.jpg")
    p_sign.add_argument("--ext", help="output format extension, e.g. webp")
    p_sign.add_argument("--plain", action="store_true", help="plain source instead of base64")
    p_sign.add_argument("--base-url", default="", help="prefix, e.g. http://127.0.0.1:8080")

    p_warm = commands.add_parser(
        "warm", help="render delivery paths into the region cache (paths, or - for stdin)"
    )
    p_warm.add_argument("paths", nargs="*", help="paths as requested: /<signature>/<options>/...")
    p_warm.add_argument("--accept", default="", help="Accept header to negotiate formats with")

    p_keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_actions = p_keys.add_subparsers(dest="action", required=True)
    p_create = key_actions.add_parser("create", help="print a new API key (shown once)")
    p_create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    p_create.add_argument(
        "--scope",
        action="append",
        choices=["assets:read", "assets:write", "assets:delete"],
        help="repeat for several (default: all three)",
    )
    p_list = key_actions.add_parser("list", help="one JSON line per key (never the secret)")
    p_list.add_argument("--tenant", help="only this tenant's keys")
    p_revoke = key_actions.add_parser("revoke", help="revoke a key by its id")
    p_revoke.add_argument("key_id", help="the id `keys list` shows")

    p_geo = commands.add_parser("geo", help="a local multi-region cluster with WAN latency")
    geo_actions = p_geo.add_subparsers(dest="action", required=True)
    p_up = geo_actions.add_parser("up", help="start N regions and the links between them")
    p_up.add_argument("--regions", type=int, default=3, help="how many (default 3)")
    p_up.add_argument("--rtt", default="80ms", help="round trip between regions (80ms)")
    p_up.add_argument("--bandwidth", help="cap per link and direction, e.g. 10M (bytes/s)")
    p_up.add_argument(
        "--backends",
        choices=["embedded", "services"],
        default="embedded",
        help="embedded (files, SQLite; the default) or services: each region its own "
        "PostgreSQL database, Redis database and SeaweedFS server",
    )
    p_up.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="with --backends services: a database on the server to make regions' ones on",
    )
    p_up.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379",
        help="with --backends services: the Redis server (region N uses database N)",
    )
    p_status = geo_actions.add_parser("status", help="regions, health, lag per pair, backlog")
    p_status.add_argument("--json", action="store_true", help="one JSON document")
    p_status.add_argument(
        "--follow", action="store_true", help="then a progress line until the backlog drains"
    )
    geo_actions.add_parser("down", help="stop every region and link")
    p_cut = geo_actions.add_parser("cut", help="cut a region's links (both ways)")
    p_cut.add_argument("region")
    p_heal = geo_actions.add_parser("heal", help="restore the links cut (of one region, or all)")
    p_heal.add_argument("region", nargs="?")
    p_env = geo_actions.add_parser(
        "env", help="a region's settings as shell exports: eval them, then `imgfleet keys ...`"
    )
    p_env.add_argument("region")
    p_url = geo_actions.add_parser("url", help="a region's URL")
    p_url.add_argument("region")
    for p_action in geo_actions.choices.values():
        p_action.add_argument(
            "--dir", type=Path, default=Path(".imgfleet-geo"), help="the cluster's folder"
        )

    commands.add_parser("check-config", help="validate settings and exit")
    p_docs = commands.add_parser("docs", help="write the generated references into a folder")
    p_docs.add_argument("folder", nargs="?", default="docs", help="default: docs")

    args = parser.parse_args(argv)
    if args.config:
        os.environ["IMGFLEET_CONFIG"] = args.config
    if args.command == "docs":
        write_docs(Path(args.folder))
        return
    if args.command == "geo":
        geo(args)
        return
    settings = load_settings()
    if args.command == "serve":
        serve(settings, args.host, args.port)
    elif args.command == "sign":
        if not settings.security.key_pairs:
            print(
                "imgfleet sign: no signing keys are set (IMGFLEET_SECURITY__KEYS), so this URL "
                "is unsigned: a server with keys refuses it",
                file=sys.stderr,
            )
        print(
            args.base_url.rstrip("/")
            + signed_path(settings, args.options, args.source, args.ext, args.plain)
        )
    elif args.command == "warm":
        warm(settings, args.paths, args.accept)
    elif args.command == "keys":
        manage_keys(settings, args)
    elif args.command == "check-config":
        check(settings)
        print("settings are valid")


if __name__ == "__main__":
    main()
