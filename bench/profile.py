"""Where imgfleet's CPU goes per request: the profile behind the targets a run does not meet.

Per workload, in this process, one thread, CPU time (median of `ROUNDS` rounds over the
workload's inputs), with the engine and the options `imgfleet serve` gets in a comparison:

    render   the whole miss: probe, plan, decode, pipeline, encode (`render_job.run`)
    decode   the decoder the engine picks, at the scale it picks (+ one pass over the pixels)
    encode   the encoder alone, on pixels of the rendition's size

and for a cache hit, the app's own share: one `App.hot_response`, what the server's protocol
asks of the app for a hot rendition (the rest of a hit's CPU is uvicorn's parser callbacks,
the event loop and the kernel). Per workload too, the encoder run by as many threads as
cores (encodes/s and cores kept busy), and the headline rendered that way and by as many
processes: the engine's own parallelism, to compare with the server's.

    .venv/bin/python -m bench.profile     # ~30 s; bench/results/<date>-<host>-profile.json
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
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pyvips

from bench.compare import stem
from bench.corpus import CORPUS_DIR, generate
from bench.peers.imgfleet import imgfleet_options, server_env
from bench.report import RESULTS_DIR
from bench.workloads import WORKLOADS, Workload, by_name
from imgfleet.core import geometry
from imgfleet.core.option_parser import ParsedPath, parse_path
from imgfleet.imaging import fastjpeg
from imgfleet.imaging.engine import VipsEngine, configure_vips
from imgfleet.imaging.load import load
from imgfleet.imaging.metadata import keep_flags
from imgfleet.imaging.save import save
from imgfleet.service import render_job
from imgfleet.service.render_job import RenderJob
from imgfleet.settings import Settings
from imgfleet.wiring import build_app, delivery_config

ROUNDS = 3
THREADED_RENDERS = 400
THREADED_ENCODES = 60
HIT_CALLS = 20_000


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """Median over `ROUNDS` of the CPU-ms one call of `work` takes."""
    work()  # warm: first-call costs are not per-request costs
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(repeat):
            work()
        rounds.append((time.process_time() - started) * 1000 / repeat)
    return statistics.median(rounds)


def bench_settings() -> Settings:
    env = server_env(CORPUS_DIR, webp_effort=4, avif_effort=2, png_compression=6)
    sources = {"local_root": env["IMGFLEET_SOURCES__LOCAL_ROOT"]}
    formats = {"webp_effort": 4, "avif_effort": 2, "png_compression": 6}
    return Settings(sources=sources, formats=formats, server={"access_log": False})


def jobs_of(w: Workload, settings: Settings) -> tuple[list[bytes], ParsedPath, list[RenderJob]]:
    """The workload's corpus inputs, its parsed options and one render job per input."""
    config = delivery_config(settings)
    corpus = generate([w.size], formats=[w.source_format], edge=None)
    inputs = [image.path.read_bytes() for image in w.inputs(corpus)]
    options = imgfleet_options(w.op, w.width, w.height, w.out_format, w.quality, 0)
    parsed = parse_path(
        f"/{options}/plain/local:///x@{w.out_format}",
        defaults=config.defaults,
        presets=config.presets,
        only_presets=False,
        allow_security_options=False,
    )
    deadline = time.monotonic() + 3600
    target = parsed.options.format
    jobs = [
        RenderJob(data, parsed.options, target, False, config.limits, settings.formats, deadline)
        for data in inputs
    ]
    return inputs, parsed, jobs


def renderer(engine: VipsEngine, jobs: list[RenderJob]) -> Callable[[], object]:
    """One render per call, taking the jobs in turn."""
    turn = itertools.cycle(jobs)
    return lambda: render_job.run(engine, next(turn))


def profile_workload(w: Workload, settings: Settings, engine: VipsEngine) -> dict[str, float]:
    inputs, parsed, jobs = jobs_of(w, settings)
    quality = w.quality or 0
    render = renderer(engine, jobs)
    turn = iter(range(10**9))

    def decode() -> object:
        data = inputs[next(turn) % len(inputs)]
        info = engine.probe(data)
        plan = geometry.plan(parsed.options, info.width, info.height, info.exif_orientation)
        image = fastjpeg.decode(data, info, plan, parsed.options) or load(
            data, info, plan, pages=1, max_pixels=1e9
        )
        return image.avg()

    outputs = [render_job.run(engine, job).body for job in jobs]
    pixels = [pyvips.Image.new_from_buffer(body, "").copy_memory() for body in outputs]
    fmt = parsed.options.format
    assert fmt is not None

    def encode() -> object:
        image = pixels[next(turn) % len(pixels)]
        return save(image, fmt, quality, settings.formats, keep_flags(parsed.options, image))

    repeat = 2 * len(inputs)
    headline = w.name == WORKLOADS[0].name
    parallel: dict[str, float] = {}
    if headline:
        renders_s, busy = in_threads(render, THREADED_RENDERS)
        parallel = {"threads_renders_s": renders_s, "threads_cores_busy": busy}
        parallel |= in_processes(w.name, THREADED_RENDERS)
    encodes_s, encode_busy = in_threads(encode, THREADED_ENCODES)
    return parallel | {
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


def _renders_in_a_process(name: str, count: int, barrier: Any, results: Any) -> None:
    """In a fresh process: `count` renders of workload `name` after the barrier."""
    configure_vips()
    settings = bench_settings()
    (workload,) = by_name([name])
    render = renderer(VipsEngine(settings.formats, settings.limits), jobs_of(workload, settings)[2])
    render()
    barrier.wait()
    cpu = time.process_time()
    for _ in range(count):
        render()
    results.put((time.process_time() - cpu, time.perf_counter()))


def in_processes(name: str, count: int) -> dict[str, float]:
    """The same renders in one process per core: what one process's threads give up."""
    cores = os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(cores + 1), context.Queue()
    per_process = count // cores
    processes = [
        context.Process(target=_renders_in_a_process, args=(name, per_process, barrier, results))
        for _ in range(cores)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    done = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    wall = max(finished for _, finished in done) - started
    return {
        "processes_renders_s": round(per_process * cores / wall, 1),
        "processes_cores_busy": round(sum(cpu for cpu, _ in done) / wall, 2),
    }


def app_us_per_hit(settings: Settings) -> float:
    """CPU-µs of one hot rendition's answer inside `App` (lookup, headers, metrics)."""
    app = build_app(settings)
    options = imgfleet_options("fit", 512, 512, "jpeg", 80, 0)
    path = f"/insecure/{options}/plain/local:///m1.jpg@jpeg"
    headers = [(b"host", b"bench"), (b"accept", b"*/*")]
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def warm() -> None:  # the miss, then the hit that makes the path hot
        for _ in range(2):
            await app(dict(scope), receive, send)

    def calls(n: int) -> float:
        target = path.encode()
        started = time.process_time()
        for _ in range(n):
            if app.hot_response(target, headers) is None:
                raise RuntimeError(f"{path} is not answered as a hot rendition")
        return (time.process_time() - started) * 1e6 / n

    try:
        asyncio.run(warm())
        return round(statistics.median(calls(HIT_CALLS) for _ in range(ROUNDS)), 1)
    finally:
        app.delivery.admission.shutdown()


def run() -> dict[str, Any]:
    configure_vips()
    settings = bench_settings()
    sys.setswitchinterval(settings.render.switch_interval)  # as `imgfleet serve` does
    engine = VipsEngine(settings.formats, settings.limits)
    workloads = {w.name: profile_workload(w, settings, engine) for w in WORKLOADS}
    return {"workloads": workloads, "app_us_per_hit": app_us_per_hit(settings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/...)")
    args = parser.parse_args()
    started, host = time.strftime("%Y-%m-%d", time.gmtime()), socket.gethostname()
    out = args.out or RESULTS_DIR / f"{stem(started, host, 'profile')}.json"
    result = {"date": started, "host": host, "command": "python -m bench.profile", **run()}
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
