"""Load runs of one `imgfleet serve` with wrk: renders, overload (paced, flood), hits,
bombs and the largest renders (memory, deadline).

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
import itertools
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/load.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyvips
from tests.imagegen import png_bomb

from bench import enlargements, overload, revision
from bench.corpus import CORPUS_DIR, IMAGES_PER_SIZE, LARGE, MEDIUM, Size, generate
from bench.enlargements import ENLARGE, HUGE, answer_timeout
from bench.overload import RenderCost, Shape
from bench.probe import Probe, RecoveryRule
from bench.prometheus import scrape, total
from bench.rss import RssSampler, tree_cpu_seconds, tree_rss_bytes
from bench.server import Server, get
from bench.wrk import WrkResult, run_wrk, write_paths, wrk_binary
from imgfleet.cli import load_settings, signed_path
from imgfleet.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
RUN_DIR = CORPUS_DIR / "run"  # URL lists and the server log; ignored by git
RESULTS_DIR = BENCH_DIR / "results"
OPTIONS = "rs:fit:512:512/q:80"  # the peer baseline's "fit 512x512, JPEG q80"
# URL lists hold this many paths per second of run: far above what the server can do, so a
# list never runs out (a run that does is flagged "capped"). A paced run needs no more than
# its clients can send.
PATHS_PER_SECOND = {"render": 1_000, "overload": 10_000}
SCENARIOS = ("renders", "paced", "flood", "hits", "bomb", "memory", "deadline")
BOMB_REQUESTS = 200
OPEN_FILES_SPARE = 1_000  # beyond one per connection: the server's and wrk's own files
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    scenarios: tuple[str, ...]
    warmup: float
    duration: float
    overload_duration: float
    hits_duration: float
    concurrency: int
    paced_connections: int
    pause_ms: int
    flood_connections: int
    recovery_timeout: float
    hits_concurrency: int
    memory_requests: int
    memory_concurrency: int
    deadline_requests: int
    deadline_concurrency: int
    memory_budget: int | None  # bytes for IMGFLEET_RENDER__MEMORY_BUDGET; None: not passed
    isolation: str | None  # IMGFLEET_RENDER__ISOLATION; None: the server's default
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
        self.medium_cost: RenderCost | None = None  # set by `renders`, read by the overloads
        self.rule = RecoveryRule()

    def path(self, tag: str, size: Size, i: int, options: str = OPTIONS, ext: str = "jpg") -> str:
        """Request path number `i` over the images of `size`, with a cachebuster of its own."""
        source = f"local:///{size.name}{i % IMAGES_PER_SIZE + 1}.jpg"
        return signed_path(self.settings, f"{options}/cb:{tag}-{i}", source, ext, plain=False)

    def paths(self, tag: str, size: Size, count: int) -> list[str]:
        """`count` distinct request paths over the images of `size`, one cachebuster each."""
        return [self.path(tag, size, i) for i in range(count)]

    def fresh(self, tag: str) -> Iterator[str]:
        """Distinct M miss paths without end, for the probes."""
        return (self.path(tag, MEDIUM, i) for i in itertools.count())

    def wrk(
        self, tag: str, size: Size, seconds: float, connections: int, kind: str
    ) -> tuple[WrkResult, float]:
        """A distinct-URL wrk run; returns the result and the server's CPU ms per request."""
        count = int(seconds * PATHS_PER_SECOND[kind]) + connections
        paths_file = write_paths(RUN_DIR / f"{tag}.txt", self.paths(tag, size, count))
        cpu = tree_cpu_seconds(self.server.pid)
        result = run_wrk(
            self.server.base_url,
            paths_file,
            connections=connections,
            seconds=seconds,
            threads=self.config.wrk_threads,
        )
        cpu_ms = (tree_cpu_seconds(self.server.pid) - cpu) * 1000 / max(result.requests, 1)
        return result, cpu_ms

    def renders(self, sizes: tuple[Size, ...] = (MEDIUM, LARGE)) -> None:
        c, cfg = self.config.concurrency, self.config
        rows = []
        for size in sizes:
            label = f"{size.width}x{size.height} JPEG → fit 512, JPEG q80"
            if cfg.warmup > 0:
                self.wrk(f"warm-{size.name}", size, cfg.warmup, c, "render")
            self.rss.reset()
            result, cpu_ms = self.wrk(f"render-{size.name}", size, cfg.duration, c, "render")
            self.report.check(f"renders {size.name}", result, expected=frozenset({200}))
            if size is MEDIUM:
                self.medium_cost = RenderCost(result.rate, cpu_ms)
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

    def render_cost(self) -> RenderCost | None:
        """The M rate and CPU per render of `renders`, measured now (M only) if it has not
        run: the overloads' goodput and CPU per 503 are set against them."""
        if self.medium_cost is None:
            print("renders (M, the baseline of the overloads) ...", file=sys.stderr)
            self.renders((MEDIUM,))
        return self.medium_cost

    def paced(self) -> None:
        cfg = self.config
        self.overload(Shape("paced", cfg.paced_connections, cfg.pause_ms, cfg.overload_duration))

    def flood(self) -> None:
        cfg = self.config
        self.overload(Shape("flood", cfg.flood_connections, 0, cfg.overload_duration))

    def overload(self, shape: Shape) -> None:
        cost = self.render_cost()
        hot = self.hot_path()
        rate = shape.nominal_rate or PATHS_PER_SECOND["overload"]
        count = int(shape.seconds * rate) + 2 * shape.connections
        paths_file = write_paths(
            RUN_DIR / f"{shape.name}.txt", self.paths(shape.name, MEDIUM, count)
        )
        misses = self.fresh(f"{shape.name}-probe")
        outcome = overload.measure(
            shape,
            server=self.server,
            rss=self.rss,
            paths_file=paths_file,
            probe=lambda: Probe(self.server.port, hot, misses),
            rule=self.rule,
            recovery_timeout=self.config.recovery_timeout,
            wrk_threads=self.config.wrk_threads,
        )
        self.report.check(shape.name, outcome.wrk, expected=frozenset({200, 503}))
        self.report.notes += overload.notes(outcome, cost)
        self.report.sections.append(overload.section(outcome, cost, self.rule))

    def hits(self) -> None:
        cfg = self.config
        hot = self.hot_path()
        c = cfg.hits_concurrency
        paths_file = write_paths(RUN_DIR / "hits.txt", [hot])
        self.rss.reset()
        cpu = tree_cpu_seconds(self.server.pid)
        result = run_wrk(
            self.server.base_url,
            paths_file,
            connections=c,
            seconds=cfg.hits_duration,
            threads=cfg.wrk_threads,
            max_requests=int(cfg.hits_duration * 100_000),
        )
        cpu_ms = (tree_cpu_seconds(self.server.pid) - cpu) * 1000 / max(result.requests, 1)
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

    def memory(self) -> None:
        """A burst of the largest renders the default limits allow, for the peak RSS."""
        cfg = self.config
        generate((HUGE,), formats=("jpeg",), edge=None)
        source = f"local:///{HUGE.name}1.jpg"
        paths = [
            signed_path(self.settings, f"{ENLARGE}/cb:memory-{i}", source, "avif", plain=False)
            for i in range(cfg.memory_requests)
        ]
        run = enlargements.measure_memory(
            self.server,
            self.rss,
            paths,
            concurrency=cfg.memory_concurrency,
            timeout=answer_timeout(self.settings.limits.render_timeout),
            budget=cfg.memory_budget,
        )
        self.report.sections.append(enlargements.memory_section(run))

    def deadline(self) -> None:
        """The largest enlargement of an M source to GIF, alone, then a few in a row beside
        the probes."""
        cfg = self.config
        hot = self.hot_path()
        paths = [
            self.path("deadline", MEDIUM, i, ENLARGE, "gif")
            for i in range(cfg.deadline_requests + 1)
        ]
        run = enlargements.measure_deadline(
            self.server,
            paths[0],
            paths[1:],
            concurrency=cfg.deadline_concurrency,
            render_timeout=self.settings.limits.render_timeout,
            probe=Probe(self.server.port, hot, self.fresh("deadline-probe")),
        )
        self.report.sections.append(enlargements.deadline_section(run, MEDIUM))


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
        f"- server: one `imgfleet serve` process, {render.pool_size} render workers "
        f"(isolation `{render.isolation}`{'' if config.isolation else ', its default'}), "
        f"queue {render.queue_size}, render timeout {settings.limits.render_timeout:g} s, "
        f"memory budget {enlargements.budget_text(config.memory_budget)}, access log "
        f"{'on' if config.access_log else 'off'}, other settings default; CPU and RSS are "
        "its process tree's",
        f"- corpus: {IMAGES_PER_SIZE} images per size, generated by bench/corpus.py "
        "(M = 2040x1360, L = 4032x3024, JPEG q90 4:2:0, ~2.3 bits/pixel; memory: one "
        f"{HUGE.width}x{HUGE.height})",
        f"- requests: `{OPTIONS}/cb:<unique>` + `.jpg`; every render/overload request is a new "
        f"URL; memory and deadline: `{ENLARGE}/cb:<unique>` + `.avif` / `.gif`",
    ]


def raise_open_files(needed: int) -> int:
    """Raise this process's open-file limit (which wrk and the server inherit) to `needed`,
    the hard limit too when allowed (root); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def server_log_problems(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    bad = [line for line in lines if '"level":"error"' in line or '"level":"critical"' in line]
    return [f"server log: {len(bad)} error lines, first: {bad[0][:300]}"] if bad else []


def command_line() -> str:
    if __package__:
        return shlex.join([".venv/bin/python", "-m", "bench.load", *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def count(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def budget(text: str) -> int:
    """An argparse type: bytes, 0 or more (0: the server derives it from the machine)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected bytes >= 0, got {value}")
    return value


COUNTS = {  # the whole-number options: default, help
    "concurrency": (2, "renders c"),
    "paced-connections": (600, "paced c"),
    "pause-ms": (400, "paced: a connection's pause before each of its requests, ms"),
    "flood-connections": (1000, "flood c"),
    "hits-concurrency": (16, "hits c"),
    "memory-requests": (20, "memory: renders"),
    "memory-concurrency": (4, "memory c"),
    "deadline-requests": (5, "deadline: renders in a row, after the one alone"),
    "deadline-concurrency": (2, "deadline c of the renders in a row"),
    "wrk-threads": (1, "wrk threads"),
}


def parse_args() -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: %(default)s"
    )
    parser.add_argument("--warmup", type=float, default=5, help="renders warm-up s (%(default)s)")
    parser.add_argument("--duration", type=float, default=20, help="renders s (%(default)s)")
    parser.add_argument(
        "--overload-duration", type=float, default=30, help="paced and flood s (%(default)s)"
    )
    parser.add_argument(
        "--recovery-timeout",
        type=float,
        default=60,
        help="longest probing for recovery after paced and flood, s (%(default)s)",
    )
    parser.add_argument("--hits-duration", type=float, default=10, help="s (%(default)s)")
    for name, (default, text) in COUNTS.items():
        parser.add_argument(f"--{name}", type=count, default=default, help=f"{text} (%(default)s)")
    parser.add_argument(
        "--memory-budget",
        type=budget,
        metavar="BYTES",
        help="IMGFLEET_RENDER__MEMORY_BUDGET for the server (0: derived from the machine); "
        "not passed unless given",
    )
    parser.add_argument(
        "--isolation",
        choices=("threads", "processes"),
        help="IMGFLEET_RENDER__ISOLATION for the server (default: the server's own)",
    )
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
        recovery_timeout=args.recovery_timeout,
        hits_duration=args.hits_duration,
        **{name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name in COUNTS},
        memory_budget=args.memory_budget,
        isolation=args.isolation,
        access_log=args.access_log,
        out=out,
    )


def main() -> None:
    config = parse_args()
    wrk_binary()  # fail early, with the install hint
    connections = max(config.paced_connections, config.flood_connections)
    open_files = raise_open_files(connections + OPEN_FILES_SPARE)
    print("corpus ...", file=sys.stderr)
    generate(("M", "L"), formats=("jpeg",), edge=None)  # what the scenarios read
    env = {
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(CORPUS_DIR),
        "IMGFLEET_SERVER__ACCESS_LOG": "true" if config.access_log else "false",
    }
    if config.isolation is not None:
        env["IMGFLEET_RENDER__ISOLATION"] = config.isolation
    os.environ.update(env)  # the same settings here (signing, worker count) as in the server
    settings = load_settings()
    server_env = dict(env)
    if config.memory_budget is not None:  # the server's only: a setting this side may lack
        server_env["IMGFLEET_RENDER__MEMORY_BUDGET"] = str(config.memory_budget)
    log_path = RUN_DIR / "server.log"
    started = datetime.datetime.now(datetime.UTC)
    with Server(server_env, log_path) as server, RssSampler(server.pid) as rss:
        idle_rss = tree_rss_bytes(server.pid)
        bench = Bench(config, settings, server, rss)
        runs = {
            "renders": bench.renders,
            "paced": bench.paced,
            "flood": bench.flood,
            "hits": bench.hits,
            "bomb": bench.bomb,
            "memory": bench.memory,
            "deadline": bench.deadline,
        }
        for name in config.scenarios:
            print(f"{name} ...", file=sys.stderr)
            runs[name]()
        final_rss = tree_rss_bytes(server.pid)
        cached = total(scrape(server.port), "imgfleet_result_cache_bytes")
    report = bench.report
    report.notes += server_log_problems(log_path)
    if open_files < connections + OPEN_FILES_SPARE:
        report.notes.append(
            f"open files limited to {open_files} (hard limit), below {connections} "
            f"connections + {OPEN_FILES_SPARE}: expect connect errors"
        )
    held = f"{cached / MB:.0f}"
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
