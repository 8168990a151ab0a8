"""Load runs of one `imgfleet serve` with wrk: renders, overload and hits.

Generates the corpus, starts the server on a free loopback port with the corpus as its
local source root, runs the scenarios, prints a Markdown report and writes it to
bench/results/latest-load.md, replacing the previous one. Every request of a render or
overload run has its own URL (a cachebuster per request), so neither the result cache nor
request coalescing helps. See bench/README.md.

    .venv/bin/python -m bench.load            # all scenarios, default durations
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/load.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyvips
from tests.imagegen import png_bomb

from bench import revision
from bench.corpus import CORPUS_DIR, IMAGES_PER_SIZE, LARGE, MEDIUM, Size, generate
from bench.probe import Probe
from bench.rss import RssSampler, cpu_seconds, tree_rss_bytes
from bench.server import Server, get
from bench.wrk import WrkResult, run_wrk, write_paths, wrk_binary
from imgfleet.cli import load_settings, signed_path
from imgfleet.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
RUN_DIR = CORPUS_DIR / "run"  # URL lists and the server log; ignored by git
RESULTS_DIR = BENCH_DIR / "results"
OPTIONS = "rs:fit:512:512/q:80"  # the peer baseline's "fit 512x512, JPEG q80"
# URL lists hold this many paths per second of run: far above what the server can do, so a
# list never runs out (a run that does is flagged "capped").
PATHS_PER_SECOND = {"render": 1_000, "overload": 10_000}
SCENARIOS = ("renders", "overload", "hits", "bomb")
BOMB_REQUESTS = 200
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    scenarios: tuple[str, ...]
    warmup: float
    duration: float
    overload_duration: float
    hits_duration: float
    concurrency: int
    overload_factor: int
    hits_concurrency: int
    wrk_threads: int
    access_log: bool
    out: Path | None


@dataclass(slots=True)
class Report:
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, label: str, result: WrkResult, *, expected: frozenset[int]) -> None:
        """Note what a clean run would not show: odd statuses, socket errors, capped lists."""
        odd = {s: n for s, n in sorted(result.statuses.items()) if s not in expected}
        if odd:
            self.notes.append(f"{label}: unexpected statuses {odd}")
        if result.socket_errors:
            self.notes.append(f"{label}: {result.socket_errors} socket errors or timeouts")
        if result.capped:
            self.notes.append(f"{label}: URL list ran out before the time did; rate is low")


class Bench:
    def __init__(self, config: Config, settings: Settings, server: Server, rss: RssSampler):
        self.config = config
        self.settings = settings
        self.server = server
        self.rss = rss
        self.report = Report()
        self.medium_render_rate: float | None = None  # set by `renders`, read by `overload`

    def paths(self, tag: str, size: Size, count: int) -> list[str]:
        """`count` distinct request paths over the images of `size`, one cachebuster each."""
        return [
            signed_path(
                self.settings,
                f"{OPTIONS}/cb:{tag}-{i}",
                f"local:///{size.name}{i % IMAGES_PER_SIZE + 1}.jpg",
                "jpg",
                plain=False,
            )
            for i in range(count)
        ]

    def wrk(
        self, tag: str, size: Size, seconds: float, connections: int, kind: str
    ) -> tuple[WrkResult, float]:
        """A distinct-URL wrk run; returns the result and the server's CPU ms per request."""
        count = int(seconds * PATHS_PER_SECOND[kind]) + connections
        paths_file = write_paths(RUN_DIR / f"{tag}.txt", self.paths(tag, size, count))
        cpu = cpu_seconds(self.server.pid)
        result = run_wrk(
            self.server.base_url,
            paths_file,
            connections=connections,
            seconds=seconds,
            threads=self.config.wrk_threads,
        )
        cpu_ms = (cpu_seconds(self.server.pid) - cpu) * 1000 / max(result.requests, 1)
        return result, cpu_ms

    def renders(self) -> None:
        c, cfg = self.config.concurrency, self.config
        rows = []
        for size in (MEDIUM, LARGE):
            label = f"{size.width}x{size.height} JPEG → fit 512, JPEG q80"
            if cfg.warmup > 0:
                self.wrk(f"warm-{size.name}", size, cfg.warmup, c, "render")
            self.rss.reset()
            result, cpu_ms = self.wrk(f"render-{size.name}", size, cfg.duration, c, "render")
            self.report.check(f"renders {size.name}", result, expected=frozenset({200}))
            if size is MEDIUM:
                self.medium_render_rate = result.rate
            rows.append(
                f"| {label} | {c} | {result.rate:.1f} | {result.p50_ms:.1f} | "
                f"{result.p99_ms:.1f} | {result.non_2xx + result.socket_errors} | "
                f"{cpu_ms:.1f} | {self.rss.peak / MB:.0f} |"
            )
        self.report.sections.append(
            "\n".join(
                [
                    f"### renders: distinct-URL misses, c = {c}, "
                    f"{cfg.warmup:g} s warm-up + {cfg.duration:g} s measured",
                    "",
                    "| workload | c | req/s | p50 ms | p99 ms | non-2xx + errors | "
                    "server CPU ms/req | peak RSS MB |",
                    "|---|---|---|---|---|---|---|---|",
                    *rows,
                ]
            )
        )

    def hot_path(self) -> str:
        """One URL rendered once, so that later requests are result-cache hits."""
        path = self.paths("hot", MEDIUM, 1)[0]
        status = get(self.server.port, path, timeout=30)[0]
        if status != 200:
            raise SystemExit(f"the hot URL answered {status}: {path}")
        return path

    def overload(self) -> None:
        cfg, render = self.config, self.settings.render
        workers = render.pool_size
        c = cfg.overload_factor * workers
        hot = self.hot_path()
        start_rss = self.rss.reset()
        probe = Probe(self.server.port, hot, self.paths("probe", MEDIUM, 10_000))
        probe.start_for(cfg.overload_duration)
        try:
            result, cpu_ms = self.wrk("overload", MEDIUM, cfg.overload_duration, c, "overload")
        finally:
            probe.stop()
        end_rss = tree_rss_bytes(self.server.pid)
        self.report.check("overload", result, expected=frozenset({200, 503}))
        n503 = result.statuses.get(503, 0)
        if n503 != result.retry_after:
            self.report.notes.append(f"overload: {n503 - result.retry_after} 503s lack Retry-After")
        hot_bad = {s: n for s, n in probe.counts("hit").items() if s != 200}
        if hot_bad:
            self.report.notes.append(f"overload: the cache-hit URL answered {hot_bad}")
        ok = result.statuses.get(200, 0)
        if self.medium_render_rate:
            share = ok / result.seconds / self.medium_render_rate
            self.report.notes.append(
                f"overload: 200s came at {share:.0%} of the M rate measured in `renders` "
                f"({ok / result.seconds:.1f} vs {self.medium_render_rate:.1f} req/s)"
            )
        self.report.sections.append(
            "\n".join(
                [
                    f"### overload: distinct-URL misses (M), c = {c} = {cfg.overload_factor} x "
                    f"{workers} render workers (queue {render.queue_size}), "
                    f"{cfg.overload_duration:g} s",
                    "",
                    "| responses | 200 | 503 (with Retry-After) | other + errors | "
                    "200/s | p50 / p99 ms (all) | server CPU ms/resp | RSS start / peak / end MB |",
                    "|---|---|---|---|---|---|---|---|",
                    f"| {result.requests} | {ok} | {n503} ({result.retry_after}) | "
                    f"{result.requests - ok - n503 + result.socket_errors} | "
                    f"{ok / result.seconds:.1f} | {result.p50_ms:.1f} / {result.p99_ms:.1f} | "
                    f"{cpu_ms:.2f} | {start_rss / MB:.0f} / {self.rss.peak / MB:.0f} / "
                    f"{end_rss / MB:.0f} |",
                    "",
                    f"Side probe during the run, one request every {Probe.INTERVAL:g} s each, on "
                    "a new connection:",
                    "",
                    "| probe | status | count | p50 ms | p99 ms | max ms |",
                    "|---|---|---|---|---|---|",
                    *probe.rows(),
                ]
            )
        )

    def hits(self) -> None:
        cfg = self.config
        hot = self.hot_path()
        c = cfg.hits_concurrency
        paths_file = write_paths(RUN_DIR / "hits.txt", [hot])
        self.rss.reset()
        cpu = cpu_seconds(self.server.pid)
        result = run_wrk(
            self.server.base_url,
            paths_file,
            connections=c,
            seconds=cfg.hits_duration,
            threads=cfg.wrk_threads,
            max_requests=int(cfg.hits_duration * 100_000),
        )
        cpu_ms = (cpu_seconds(self.server.pid) - cpu) * 1000 / max(result.requests, 1)
        self.report.check("hits", result, expected=frozenset({200}))
        self.report.sections.append(
            "\n".join(
                [
                    f"### hits: one cached URL (M → fit 512), c = {c}, {cfg.hits_duration:g} s",
                    "",
                    "| c | req/s | p50 ms | p99 ms | non-2xx + errors | server CPU ms/req | "
                    "peak RSS MB |",
                    "|---|---|---|---|---|---|---|",
                    f"| {c} | {result.rate:.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
                    f"{result.non_2xx + result.socket_errors} | {cpu_ms:.3f} | "
                    f"{self.rss.peak / MB:.0f} |",
                ]
            )
        )

    def bomb(self) -> None:
        """A few-KB PNG declaring 50,000 x 50,000 pixels: refused from its header."""
        (CORPUS_DIR / "bomb.png").write_bytes(png_bomb(50_000, 50_000))
        before = tree_rss_bytes(self.server.pid)
        self.rss.reset()
        latencies, statuses = [], Counter[int]()
        for i in range(BOMB_REQUESTS):
            path = signed_path(
                self.settings, f"w:300/cb:bomb-{i}", "local:///bomb.png", "jpg", False
            )
            started = time.perf_counter()
            status, _, _ = get(self.server.port, path)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
        latencies.sort()
        after = tree_rss_bytes(self.server.pid)
        self.report.sections.append(
            "\n".join(
                [
                    f"### bomb: {len((CORPUS_DIR / 'bomb.png').read_bytes()):,}-byte PNG declaring "
                    f"50,000 x 50,000, {BOMB_REQUESTS} sequential requests",
                    "",
                    "| statuses | p50 ms | p99 ms | max ms | RSS before / peak / after MB |",
                    "|---|---|---|---|---|",
                    f"| {dict(statuses)} | {latencies[len(latencies) // 2]:.2f} | "
                    f"{latencies[int(len(latencies) * 0.99)]:.2f} | {latencies[-1]:.2f} | "
                    f"{before / MB:.0f} / {self.rss.peak / MB:.0f} / {after / MB:.0f} |",
                ]
            )
        )


def environment(config: Config, settings: Settings) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(
        [wrk_binary(), "-v"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.partition(" Copyright")[0]
    render = settings.render
    return [
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- imgfleet {version('imgfleet')} at {revision.commit()}, pyvips {version('pyvips')}, "
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, Python "
        f"{platform.python_version()}, {wrk_version or 'wrk'} "
        f"({config.wrk_threads} thread(s)) on the same cores",
        f"- server: one `imgfleet serve` process, {render.pool_size} render workers, queue "
        f"{render.queue_size}, access log {'on' if config.access_log else 'off'}, other "
        "settings default",
        f"- corpus: {IMAGES_PER_SIZE} images per size, generated by bench/corpus.py "
        "(M = 2040x1360, L = 4032x3024, JPEG q90 4:2:0, ~2.3 bits/pixel)",
        f"- requests: `{OPTIONS}/cb:<unique>` + `.jpg`; every render/overload request is a new URL",
    ]


def metric(port: int, name: str) -> float | None:
    """One unlabelled value from the server's /metrics, or None."""
    for line in get(port, "/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def server_log_problems(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    bad = [line for line in lines if '"level":"error"' in line or '"level":"critical"' in line]
    return [f"server log: {len(bad)} error lines, first: {bad[0][:300]}"] if bad else []


def command_line() -> str:
    if __package__:
        return shlex.join([".venv/bin/python", "-m", "bench.load", *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def parse_args() -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: %(default)s"
    )
    parser.add_argument("--warmup", type=float, default=5, help="renders warm-up s (%(default)s)")
    parser.add_argument("--duration", type=float, default=20, help="renders s (%(default)s)")
    parser.add_argument("--overload-duration", type=float, default=30, help="s (%(default)s)")
    parser.add_argument("--hits-duration", type=float, default=10, help="s (%(default)s)")
    parser.add_argument("--concurrency", type=int, default=2, help="renders c (%(default)s)")
    parser.add_argument(
        "--overload-factor", type=int, default=10, help="overload c = this x render workers"
    )
    parser.add_argument("--hits-concurrency", type=int, default=16, help="hits c (%(default)s)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (%(default)s)")
    parser.add_argument("--access-log", action="store_true", help="keep the access log on")
    parser.add_argument(
        "--out",
        type=Path,
        help="report file (default: %(default)s)",
        default=RESULTS_DIR / "latest-load.md",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {sorted(unknown)}; choose from {SCENARIOS}")
    out = None if args.no_write else args.out
    return Config(
        scenarios=scenarios,
        warmup=args.warmup,
        duration=args.duration,
        overload_duration=args.overload_duration,
        hits_duration=args.hits_duration,
        concurrency=args.concurrency,
        overload_factor=args.overload_factor,
        hits_concurrency=args.hits_concurrency,
        wrk_threads=args.wrk_threads,
        access_log=args.access_log,
        out=out,
    )


def main() -> None:
    config = parse_args()
    wrk_binary()  # fail early, with the install hint
    print("corpus ...", file=sys.stderr)
    generate(("M", "L"), formats=("jpeg",), edge=None)  # what the scenarios read
    env = {
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(CORPUS_DIR),
        "IMGFLEET_SERVER__ACCESS_LOG": "true" if config.access_log else "false",
    }
    os.environ.update(env)  # the same settings here (signing, worker count) as in the server
    settings = load_settings()
    log_path = RUN_DIR / "server.log"
    started = datetime.datetime.now(datetime.UTC)
    with Server(env, log_path) as server, RssSampler(server.pid) as rss:
        idle_rss = tree_rss_bytes(server.pid)
        bench = Bench(config, settings, server, rss)
        runs = {
            "renders": bench.renders,
            "overload": bench.overload,
            "hits": bench.hits,
            "bomb": bench.bomb,
        }
        for name in config.scenarios:
            print(f"{name} ...", file=sys.stderr)
            runs[name]()
        final_rss = tree_rss_bytes(server.pid)
        cached = metric(server.port, "imgfleet_result_cache_bytes")
    report = bench.report
    report.notes += server_log_problems(log_path)
    held = "?" if cached is None else f"{cached / MB:.0f}"
    report.notes.append(
        f"server RSS: {idle_rss / MB:.0f} MB idle after start, {final_rss / MB:.0f} MB after "
        f"the last scenario, when the result cache held {held} MB (limit "
        f"{settings.cache.result_bytes / MB:.0f} MB; source cache limit "
        f"{settings.sources.cache_bytes / MB:.0f} MB)"
    )
    text = "\n".join(
        [
            f"# Load run {started:%Y-%m-%d %H:%M} UTC",
            "",
            "```",
            command_line(),
            "```",
            "",
            *environment(config, settings),
            "",
            "\n\n".join(report.sections),
            "",
            "### notes",
            "",
            *(f"- {note}" for note in report.notes),
            "",
        ]
    )
    print(text)
    if config.out is not None:
        config.out.parent.mkdir(parents=True, exist_ok=True)
        config.out.write_text(text)
        print(f"written to {config.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
