"""Where imgfleet's CPU goes per request: the profile behind the targets a run does not meet.

It reaches imgfleet the way a deployment does, through its public surface only: settings,
the service opened by `wiring` as `imgfleet serve` opens it, the ASGI app and the engine's
public functions (tests/bench/test_public_surface.py holds it to that), so a refactor inside
imgfleet cannot break it unnoticed. Per workload, in this process, CPU time (median of
`ROUNDS` rounds over the workload's inputs), with the settings `imgfleet serve` gets in a
comparison:

    render   the whole miss through the service, one at a time and without HTTP: `deliver`
             of a distinct URL (a cachebuster each): verify, parse, cache key, then in the
             admission pool probe, plan, decode, pipeline, encode
    decode   `VipsEngine.decode`: the decoder the engine picks, at the scale it picks (with
             the probe and the plan, and one pass over the pixels)
    encode   `VipsEngine.encode` alone, on pixels of the rendition's size

and for a cache hit, the app's own share: one `hot_response` of the app `wiring` builds, what
the server's parser callback asks of the app for a hot rendition (the rest of a hit's CPU is
uvicorn's parser, the event loop and the kernel). Per workload too, the encoder run by as
many threads as cores (encodes/s and cores kept busy); and for the headline, many misses
given at once to the service with one render worker per core, then to one process per core
each with its own service and one worker: the engine's parallelism in threads and in
processes, to compare with the server's.

    .venv/bin/python -m bench.profile --out /tmp/profile.json   # ~30 s
    # a full comparison run writes it to bench/results/latest-profile.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyvips

from bench.corpus import CORPUS_DIR, CorpusImage, generate
from bench.measure import effort
from bench.peers.imgfleet import Imgfleet, server_env
from bench.workloads import HEADLINE, WORKLOADS, Workload
from imgfleet.imaging import VipsEngine, configure_vips
from imgfleet.settings import Settings
from imgfleet.wiring.app import build_app
from imgfleet.wiring.config import encoder_config
from imgfleet.wiring.dependencies import Dependencies, open_dependencies

ROUNDS = 3
START_SECONDS = 120.0  # for a burst's processes to be ready (imports, a service each)
PARALLEL_RENDERS = 400
BURST_TIMEOUT = 600.0  # s: a miss waits for every one before it
THREADED_ENCODES = 60
HIT_CALLS = 20_000
ACCEPT = "*/*"  # the output format is the URL's extension: no negotiation


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """Median over `ROUNDS` of the CPU-ms one call of `work` takes (every thread's CPU)."""
    work()  # warm: first-call costs are not per-request costs
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(repeat):
            work()
        rounds.append((time.process_time() - started) * 1000 / repeat)
    return statistics.median(rounds)


def bench_settings(root: Path = CORPUS_DIR, **changes: dict[str, object]) -> Settings:
    """The settings a comparison gives `imgfleet serve` (bench/peers/imgfleet.py), with
    `changes` by section (`render={"workers": 1}`)."""
    env = server_env(
        root, webp_effort=effort("webp", 4), avif_effort=effort("avif", 2), png_compression=6
    )
    sections: dict[str, dict[str, object]] = {}
    for name, value in env.items():
        section, _, field = name.removeprefix("IMGFLEET_").lower().partition("__")
        sections.setdefault(section, {})[field] = value
    for section, fields in changes.items():
        sections.setdefault(section, {}).update(fields)
    return Settings(**sections)  # type: ignore[arg-type]


@contextmanager
def opened(settings: Settings) -> Iterator[tuple[asyncio.Runner, Dependencies]]:
    """A process's dependencies as `imgfleet serve` opens them, and the loop to drive them
    from plain calls (one loop for the whole block, as in the server)."""
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        deps = runner.run(stack.enter_async_context(open_dependencies(settings)))
        try:
            yield runner, deps
        finally:
            runner.run(stack.aclose())


def miss_paths(settings: Settings, w: Workload, images: Sequence[CorpusImage]) -> Iterator[str]:
    """Endless distinct request paths of `w`: its inputs in turn, a new cachebuster each."""
    peer = Imgfleet(settings=settings)
    for n in itertools.count():
        name = images[n % len(images)].path.name
        yield peer.path(name, w.op, w.width, w.height, w.out_format, w.quality or 0, n)


def inputs_of(w: Workload) -> list[CorpusImage]:
    return w.inputs(generate([w.size], formats=[w.source_format], edge=None))


def profile_workload(
    w: Workload,
    images: Sequence[CorpusImage],
    runner: asyncio.Runner,
    deps: Dependencies,
    engine: VipsEngine,
) -> dict[str, float]:
    """render, decode and encode CPU-ms of `w`, and its encoder in one thread per core."""
    delivery = deps.delivery
    paths = miss_paths(deps.settings, w, images)

    def render() -> bytes:
        return runner.run(delivery.deliver(next(paths), ACCEPT)).rendition.body

    outputs = [render() for _ in images]  # also brings every source into the source cache
    sources = [image.path.read_bytes() for image in images]
    options = delivery.resolve(next(paths)).options
    fmt, quality = options.format, w.quality or 0
    if fmt is None:
        raise ValueError(f"{w.name}: its URL names no output format")
    turn = itertools.count()

    def decode() -> float:
        data = sources[next(turn) % len(sources)]
        info = engine.probe(data)
        image = engine.decode(data, info, engine.plan(info, options), options)
        return float(image.avg())

    pixels = [pyvips.Image.new_from_buffer(body, "").copy_memory() for body in outputs]

    def encode() -> bytes:
        return engine.encode(pixels[next(turn) % len(pixels)], fmt, quality, options)

    repeat = 2 * len(images)
    encodes_s, encode_busy = in_threads(encode, THREADED_ENCODES)
    return {
        "render_ms": round(cpu_ms(render, repeat), 2),
        "decode_ms": round(cpu_ms(decode, repeat), 2),
        "encode_ms": round(cpu_ms(encode, repeat), 2),
        "threads_encodes_s": encodes_s,
        "threads_encode_cores_busy": encode_busy,
    }


def in_threads(work: Callable[[], object], count: int) -> tuple[float, float]:
    """`count` calls of `work` shared by one thread per core: calls/s and cores kept busy."""
    cores = os.cpu_count() or 1
    per_thread = count // cores
    started, cpu = time.perf_counter(), time.process_time()
    threads = [
        threading.Thread(target=lambda: [work() for _ in range(per_thread)]) for _ in range(cores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return round(per_thread * cores / wall, 1), round((time.process_time() - cpu) / wall, 2)


@dataclass(frozen=True, slots=True)
class Burst:
    """Distinct misses of one workload given to a service all at once (its queue holds them
    all), so that its render workers always have the next job waiting."""

    root: Path  # the folder served as local:///
    workload: Workload
    images: tuple[CorpusImage, ...]
    workers: int
    count: int

    def settings(self) -> Settings:
        """Room in the queue for every miss, and time for the last one's wait (the deadline
        runs from the request)."""
        return bench_settings(
            self.root,
            render={"workers": self.workers, "queue": self.count},
            limits={"render_timeout": BURST_TIMEOUT},
        )

    def run(self, ready: Callable[[], object]) -> tuple[float, float]:
        """Warm the service, call `ready`, then the burst: (CPU seconds, time it ended)."""
        with opened(self.settings()) as (runner, deps):
            paths = miss_paths(deps.settings, self.workload, self.images)
            deliver = deps.delivery.deliver

            async def burst(count: int) -> None:
                await asyncio.gather(*(deliver(next(paths), ACCEPT) for _ in range(count)))

            runner.run(burst(len(self.images)))  # every source fetched and cached, pool warm
            ready()
            cpu = time.process_time()
            runner.run(burst(self.count))
            return time.process_time() - cpu, time.perf_counter()


def in_service_threads(burst: Burst) -> dict[str, float]:
    """One service with `burst.workers` render threads: renders/s and cores kept busy."""
    started: list[float] = []
    cpu, ended = burst.run(lambda: started.append(time.perf_counter()))
    wall = ended - started[0]
    return {
        "threads_renders_s": round(burst.count / wall, 1),
        "threads_cores_busy": round(cpu / wall, 2),
    }


def _burst_in_a_process(burst: Burst, barrier: Any, results: Any) -> None:
    configure_vips()
    results.put(burst.run(barrier.wait))


def in_processes(burst: Burst, processes: int) -> dict[str, float]:
    """`burst`'s misses shared by `processes` processes, each with its own service and one
    render worker: what one process's render threads give up."""
    share = replace(burst, workers=1, count=burst.count // processes)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    started_processes = [
        context.Process(target=_burst_in_a_process, args=(share, barrier, results))
        for _ in range(processes)
    ]
    for process in started_processes:
        process.start()
    try:
        barrier.wait(timeout=START_SECONDS)  # a process that died first must not hang us
    except threading.BrokenBarrierError:
        for process in started_processes:
            process.kill()
        raise RuntimeError(f"a burst process did not start in {START_SECONDS} s") from None
    started = time.perf_counter()
    done = [results.get(timeout=600) for _ in started_processes]
    for process in started_processes:
        process.join()
    wall = max(ended for _, ended in done) - started
    return {
        "processes_renders_s": round(share.count * processes / wall, 1),
        "processes_cores_busy": round(sum(cpu for cpu, _ in done) / wall, 2),
    }


def app_us_per_hit(runner: asyncio.Runner, deps: Dependencies, path: str, calls: int) -> float:
    """CPU-µs of one hot rendition's answer inside the app (lookup, headers, metrics)."""
    app = build_app(deps)
    headers = [(b"host", b"bench"), (b"accept", ACCEPT.encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(2):  # the miss, then the hit through ASGI that makes the path hot
        runner.run(app(dict(scope), receive, send))
    if statuses != [200, 200]:
        raise RuntimeError(f"{path} answered {statuses}, not a miss and a hit")
    target = path.encode()

    def answer() -> None:
        if app.hot_response(target, headers) is None:
            raise RuntimeError(f"{path} is not answered as a hot rendition")

    return round(cpu_ms(answer, calls) * 1000, 1)


def run() -> dict[str, Any]:
    configure_vips()
    settings = bench_settings()
    sys.setswitchinterval(settings.render.switch_interval)  # as `imgfleet serve` does
    engine = VipsEngine(encoder_config(settings.formats), settings.limits.max_src_megapixels)
    images = {w.name: inputs_of(w) for w in WORKLOADS}  # the corpus, before the service
    workloads: dict[str, dict[str, float]] = {}
    with opened(settings) as (runner, deps):
        for w in WORKLOADS:
            workloads[w.name] = profile_workload(w, images[w.name], runner, deps, engine)
        hot = next(miss_paths(settings, HEADLINE, images[HEADLINE.name]))
        hit = app_us_per_hit(runner, deps, hot, HIT_CALLS)
    cores = os.cpu_count() or 1
    burst = Burst(CORPUS_DIR, HEADLINE, tuple(images[HEADLINE.name]), cores, PARALLEL_RENDERS)
    workloads[HEADLINE.name] |= in_service_threads(burst) | in_processes(burst, cores)
    return {"workloads": workloads, "app_us_per_hit": hit}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    started, host = time.strftime("%Y-%m-%d", time.gmtime()), socket.gethostname()
    result = {"date": started, "host": host, "command": "python -m bench.profile", **run()}
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
