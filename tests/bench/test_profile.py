"""bench/profile.py on a tiny corpus: every figure it reports comes out of the public surface."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import profile
from bench.corpus import CorpusImage
from bench.workloads import Workload
from imgfleet.imaging import VipsEngine
from imgfleet.wiring.config import encoder_config
from tests import imagegen

TINY = Workload("tiny", "T", "jpeg", "fit", 32, 32, "jpeg", 80)


@pytest.fixture
def images(tmp_path: Path) -> tuple[CorpusImage, ...]:
    made = []
    for n, (w, h) in enumerate(((96, 64), (64, 96)), start=1):
        path = tmp_path / f"t{n}.jpg"
        path.write_bytes(imagegen.jpeg(w, h))
        made.append(CorpusImage(f"t{n}", "T", "jpeg", path, w, h))
    return tuple(made)


def test_settings_are_the_servers_with_changes(tmp_path: Path) -> None:
    settings = profile.bench_settings(tmp_path, render={"workers": 1})
    assert settings.sources.local_root == tmp_path.resolve()
    assert settings.server.access_log is False
    assert (settings.formats.webp_effort, settings.formats.png_compression) == (4, 6)
    assert settings.render.workers == 1


def test_paths_are_distinct_misses_over_the_inputs(
    tmp_path: Path, images: tuple[CorpusImage, ...]
) -> None:
    paths = profile.miss_paths(profile.bench_settings(tmp_path), TINY, images)
    first = [next(paths) for _ in range(4)]
    assert len(set(first)) == 4
    assert all("/rs:fit:32:32:0/q:80/cb:" in path for path in first)


def test_a_workload_and_a_hit_are_profiled_through_the_service(
    tmp_path: Path, images: tuple[CorpusImage, ...]
) -> None:
    settings = profile.bench_settings(tmp_path)
    engine = VipsEngine(encoder_config(settings.formats), settings.limits.max_src_megapixels)
    with profile.opened(settings) as (runner, deps):
        found = profile.profile_workload(TINY, images, runner, deps, engine)
        hot = next(profile.miss_paths(settings, TINY, images))
        hit_us = profile.app_us_per_hit(runner, deps, hot, 10)
    assert set(found) == {
        "render_ms",
        "decode_ms",
        "encode_ms",
        "threads_encodes_s",
        "threads_encode_cores_busy",
    }
    assert all(value >= 0 for value in found.values()) and found["render_ms"] > 0
    assert hit_us > 0


def test_bursts_run_in_threads_and_in_processes(
    tmp_path: Path, images: tuple[CorpusImage, ...]
) -> None:
    cores = os.cpu_count() or 1
    burst = profile.Burst(tmp_path, TINY, images, cores, 4 * cores)
    threads = profile.in_service_threads(burst)
    processes = profile.in_processes(burst, cores)
    assert threads["threads_renders_s"] > 0 and threads["threads_cores_busy"] > 0
    assert processes["processes_renders_s"] > 0 and processes["processes_cores_busy"] > 0
