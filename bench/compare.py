"""Side by side: imgfleet vs thumbor and ipx, the raw-library ceiling, and nginx on hits.

    .venv/bin/python -m bench.compare            # full run, every workload (about 40 min)
    .venv/bin/python -m bench.compare --quick    # headline + L fill crop, c = 2 (about 2 min)
    .venv/bin/python -m bench.compare --soak     # imgfleet, L at c = 4 for 10 min: RSS drift

Every request is a distinct URL (image x cachebuster), so no server wins by caching or
coalescing. Workload by workload, every server of it gets a fresh process, a sample fetch
(output bytes and SSIM against bench/quality.py's reference) and a warm-up; then per
concurrency `repetitions` measured wrk windows (bench/cycle.lua) go round the servers, and
at c = 2 round the raw libraries too, so the figures compared are measured seconds apart;
the median is reported. Server CPU and RSS are read from the server's process tree.
Writes bench/results/latest.md/.json/.png (full; quick: latest-quick.*, a plan changed on
the command line: latest-custom.*), each replacing the previous run's, and appends the run's
row to bench/results/history.md. A full run ends with `python -m bench.profile` into
latest-profile.json, whose figures its targets cite where they are missed, and refreshes
the table in docs/performance.md. Peers install themselves into bench/.peers/ on first use.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/compare.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ceiling, history, report, revision
from bench.corpus import generate
from bench.measure import (
    CORES,
    Bench,
    Plan,
    ServerSpec,
    effort,
    progress,
    source_fingerprint,
)
from bench.peers import Peer
from bench.peers.imgfleet import Imgfleet
from bench.peers.ipx import Ipx
from bench.peers.nginx import Nginx
from bench.peers.thumbor import Thumbor
from bench.records import Ceiling, Cell, Run
from bench.workloads import QUICK as QUICK_WORKLOADS
from bench.workloads import WORKLOADS, Workload, by_name
from bench.wrk import wrk_binary

DEFAULT_SERVERS = "imgfleet:1,thumbor:1,thumbor:2,ipx:1"
# Guesses for the time estimate, seconds: a server start, a sample fetch, a ceiling's
# overhead, a full run's closing profile.
START_S, SAMPLE_S, CEILING_OVERHEAD_S, PROFILE_S = 2.0, 1.5, 2.0, 30.0


def parse_servers(text: str) -> tuple[ServerSpec, ...]:
    """ "imgfleet:1,thumbor:2" -> specs; ValueError names what is wrong."""
    specs = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, _, count = item.partition(":")
        if name not in ("imgfleet", "thumbor", "ipx"):
            raise ValueError(f"servers: unknown {name!r}; expected imgfleet, thumbor or ipx")
        if not (count or "1").isdigit() or int(count or "1") < 1:
            raise ValueError(f"servers: {item!r}: expected NAME:PROCESSES with PROCESSES >= 1")
        specs.append(ServerSpec(name, int(count or "1")))
    if not specs:
        raise ValueError("servers: expected at least one")
    return tuple(specs)


FULL = Plan(
    mode="full",
    workloads=WORKLOADS,
    concurrency=(1, 2, 4, 8),
    servers=parse_servers(DEFAULT_SERVERS),
    warmup=3.0,
    seconds=5.0,
    repetitions=3,
    libraries=ceiling.LIBRARIES,
    ceiling_warmup=2.0,
    ceiling_seconds=5.0,
    hit_concurrency=16,
    hit_seconds=10.0,
    hit_repetitions=3,
)
QUICK = replace(
    FULL,
    mode="quick",
    workloads=QUICK_WORKLOADS,
    concurrency=(2,),
    warmup=2.0,
    seconds=4.0,
    repetitions=2,
    ceiling_warmup=0.5,
    ceiling_seconds=3.0,
    hit_seconds=3.0,
    hit_repetitions=1,
)


def estimate_seconds(plan: Plan) -> float:
    """A rough duration of `plan`: windows plus the guessed overheads."""
    window = plan.seconds + 0.3
    per_workload = START_S + SAMPLE_S + plan.warmup
    per_workload += len(plan.concurrency) * plan.repetitions * window
    cells = len(plan.servers) * len(plan.workloads) * per_workload
    ceiling_s = plan.ceiling_warmup + plan.ceiling_seconds + CEILING_OVERHEAD_S
    ceilings = len(plan.libraries) * len(plan.workloads) * plan.repetitions * ceiling_s
    hits = 0.0 if not plan.hit_seconds else 2 * (START_S + 1 + plan.hit_repetitions * window)
    profile = PROFILE_S if plan.mode == "full" else 0.0
    return cells + ceilings + hits + profile


# --- the run -----------------------------------------------------------------------------


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{CORES} cores ({model or platform.processor()}), {memory:.0f} GB, {system}"


def servers_used(plan: Plan) -> set[str]:
    """The peers a plan starts: its servers, and imgfleet and nginx for the hit path."""
    hit = {"imgfleet", "nginx"} if plan.hit_seconds else set()
    return {spec.name for spec in plan.servers} | hit


def environment(plan: Plan, peers: dict[str, Peer]) -> dict[str, str]:
    wrk = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, timeout=10)
    found = {"machine": machine(), "wrk": wrk.stdout.partition(" Copyright")[0].strip()}
    used = servers_used(plan)
    for name in sorted(used):
        found[name] = ", ".join(f"{k} {v}" for k, v in peers[name].versions().items())
    if "imgfleet" in used:
        found["imgfleet"] = (
            f"{revision.commit()} (src/ digest {source_fingerprint()}): {found['imgfleet']}, "
            f"Python {platform.python_version()}; one `imgfleet serve` process, default "
            "settings but the access log off and the encoder efforts below"
        )
    if "thumbor" in used:
        found["thumbor"] += f"; file loader, no storage, engine threads = {CORES}"
    if "nginx" in used:
        found["nginx"] += f"; {CORES} workers, sendfile, access log off"
    for library in plan.libraries:
        versions = ceiling.library_versions(library)
        found[f"raw {library}"] = ", ".join(f"{k} {v}" for k, v in versions.items())
    avif = effort("avif", 2)
    found["encoding"] = (
        "JPEG q80 baseline 4:2:0 (imgfleet and the ceiling: optimised Huffman tables); "
        f"WebP q75 effort 4; AVIF q65 8-bit 4:2:0 effort {avif} (libvips scale; aom speed "
        f"{9 - avif}); PNG deflate level 6 (imgfleet and the ceiling: adaptive row filters, "
        "zlib-ng)"
    )
    return found


def all_servers(avif: int, webp: int) -> dict[str, Peer]:
    peers: tuple[Peer, ...] = (
        Imgfleet(webp_effort=webp, avif_effort=avif),
        Thumbor(avif_effort=avif),
        Ipx(avif_effort=avif),
        Nginx(),
    )
    return {peer.name: peer for peer in peers}


def schedule(plan: Plan) -> list[tuple[Workload, tuple[ServerSpec, ...]]]:
    """Workload by workload, the servers taking turns and the ceiling right after, so the
    figures compared were measured seconds apart, not half an hour (the machine's speed
    drifts); each workload starts one server later, so none is always measured first."""
    servers = plan.servers
    return [
        (workload, servers[i % len(servers) :] + servers[: i % len(servers)])
        for i, workload in enumerate(plan.workloads)
    ]


def run(plan: Plan, command: str) -> Run:
    wrk_binary()  # fail early, with the install hint
    started = datetime.datetime.now(datetime.UTC)
    commit = revision.commit()  # before the run writes its files
    sizes = sorted({w.size for w in plan.workloads})
    formats = sorted({w.source_format for w in plan.workloads})
    progress(f"corpus {sizes} {formats} ...")
    corpus = generate(sizes, formats=formats, edge=None)
    avif, webp = effort("avif", 2), effort("webp", 4)
    peers = all_servers(avif, webp)
    used = servers_used(plan)
    for name in sorted(used):
        progress(f"install {name} (once, into bench/.peers/) ...")
        peers[name].install()
    env = environment(plan, peers)
    # One peer object per server: a workload's servers run side by side.
    instances = {spec: all_servers(avif, webp)[spec.name] for spec in plan.servers}
    bench = Bench(plan, corpus, peers, instances)
    cells: list[Cell] = []
    ceilings: list[Ceiling] = []
    for workload, specs in schedule(plan):
        found, raw = bench.workload(specs, workload)
        cells += found
        ceilings += raw
    hits = bench.hits() if plan.hit_seconds else []
    method = {
        "warmup": plan.warmup,
        "seconds": plan.seconds,
        "repetitions": plan.repetitions,
        "concurrency": list(plan.concurrency),
        "servers": [spec.label for spec in plan.servers],
        "order": "window by window, ceiling too",
        "ceiling_seconds": plan.ceiling_seconds,
        "ceiling_workers": CORES,
        "hit_concurrency": plan.hit_concurrency,
        "hit_seconds": plan.hit_seconds,
        "hit_repetitions": plan.hit_repetitions,
        "wrk_threads": plan.wrk_threads,
        "elapsed_s": round((datetime.datetime.now(datetime.UTC) - started).total_seconds()),
    }
    return Run(
        mode=plan.mode,
        started=started.isoformat(timespec="seconds"),
        host=socket.gethostname(),
        command=command,
        cores=CORES,
        environment=env,
        method=method,
        workloads={w.name: w.label for w in plan.workloads},
        cells=tuple(cells),
        ceilings=tuple(ceilings),
        hits=tuple(hits),
        notes=tuple(bench.window_notes() + bench.notes),
        commit=commit,
    )


def profile(out: Path) -> None:
    """`python -m bench.profile` in a fresh process, its JSON to `out`: where a render's CPU
    goes on this machine, for the targets this run misses."""
    progress("profile (python -m bench.profile) ...")
    command = [sys.executable, "-m", "bench.profile", "--out", str(out)]
    root = Path(__file__).resolve().parents[1]
    subprocess.run(command, cwd=root, check=True, stdout=subprocess.DEVNULL, timeout=600)


def parse_args(argv: Sequence[str] | None) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="the short mode (< 3 min)")
    parser.add_argument("--soak", action="store_true", help="only the soak (bench/soak.py)")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="(%(default)s)")
    parser.add_argument("--workloads", help="comma-separated names (bench/workloads.py)")
    parser.add_argument("--concurrency", help="comma-separated, e.g. 1,2,4,8")
    parser.add_argument("--servers", help=f"NAME:PROCESSES, comma-separated ({DEFAULT_SERVERS})")
    parser.add_argument("--warmup", type=float, help="s per server and workload")
    parser.add_argument("--seconds", type=float, help="s per measured window")
    parser.add_argument("--repetitions", type=int, help="windows per cell (median reported)")
    parser.add_argument("--libraries", help="raw-library ceiling: pyvips,pillow or none")
    parser.add_argument("--hit-seconds", type=float, help="s per hit window; 0: no hit path")
    parser.add_argument("--wrk-threads", type=int, help="wrk threads (1)")
    parser.add_argument("--estimate", action="store_true", help="print the estimate and exit")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    try:
        changes: dict[str, object] = {}
        if args.workloads:
            changes["workloads"] = by_name(n.strip() for n in args.workloads.split(","))
        if args.concurrency:
            changes["concurrency"] = tuple(int(c) for c in args.concurrency.split(","))
        if args.servers:
            changes["servers"] = parse_servers(args.servers)
        if args.libraries:
            names = () if args.libraries == "none" else tuple(args.libraries.split(","))
            unknown = set(names) - set(ceiling.LIBRARIES)
            if unknown:
                raise ValueError(f"libraries: unknown {sorted(unknown)}")
            changes["libraries"] = names
    except ValueError as error:
        parser.error(str(error))
    numbers = {
        "warmup": args.warmup,
        "seconds": args.seconds,
        "repetitions": args.repetitions,
        "hit_seconds": args.hit_seconds,
        "wrk_threads": args.wrk_threads,
    }
    changes |= {key: value for key, value in numbers.items() if value is not None}
    changed = replace(plan, **changes)  # type: ignore[arg-type]
    # A changed plan is not the full or quick run: its files must not replace theirs.
    return (changed if changed == plan else replace(changed, mode="custom")), args


def main(argv: Sequence[str] | None = None) -> None:
    plan, args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench.compare", *(argv or sys.argv[1:])])
    if args.soak:
        from bench.soak import main as soak_main

        soak_main(args.soak_seconds, command, write_files=not args.no_write)
        return
    estimate = estimate_seconds(plan)
    progress(f"{plan.mode} run, about {estimate / 60:.1f} min")
    if args.estimate:
        return
    began = time.monotonic()
    result = run(plan, command)
    progress(f"done in {(time.monotonic() - began) / 60:.1f} min (estimate {estimate / 60:.0f})")
    if args.no_write:
        print(report.markdown(result, report.facts(result, ""), None))
        return
    name = report.results_name(plan.mode)
    if plan.mode == "full":
        profile(report.RESULTS_DIR / f"{name}-profile.json")
    written = report.write(result, name)
    history.append([history.row_of(result, written.facts)])
    if plan.mode == "full":  # the whole grid: a changed plan is "custom"
        report.refresh_docs(result, written)
    print(written.markdown.read_text())
    for path in (written.markdown, written.json, written.chart, history.HISTORY_FILE):
        progress(f"wrote {path}")


if __name__ == "__main__":
    main()
