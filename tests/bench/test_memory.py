"""bench/memory.py and bench/freed.py on tiny images: the grid, the figures, the tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import freed, memory
from bench.memory_probe import Job, in_fresh_process, quality_of, resolve
from imgfleet.settings import Settings
from tests import imagegen


def test_the_grid_covers_the_sources_operations_and_formats_asked_for() -> None:
    names = {case.name for case in memory.grid()}
    for source in ("jpeg-2mp", "jpeg-12mp", "jpeg-50mp", "png-12mp", "webp-12mp"):
        for operation in ("fit512", "same", "enlarge8192"):
            for out in ("jpeg", "png", "webp", "avif", "gif"):
                assert f"{source} {operation} -> {out}" in names
    for source in ("gif-anim", "webp-anim"):
        assert f"{source} fit256 -> gif" in names
        assert f"{source} enlarge2048 -> webp" in names
    fifty = next(s for s in memory.SOURCES if s.name == "jpeg-50mp")
    assert fifty.width * fifty.height <= Settings().limits.max_src_megapixels * 1e6


def test_case_paths_parse_to_the_operation_and_format() -> None:
    enlarge = next(c for c in memory.grid() if c.name == "jpeg-12mp enlarge8192 -> avif")
    same = next(c for c in memory.grid() if c.name == "png-12mp same -> webp")
    parsed = resolve(Settings(), [enlarge.path(enlarge.source.path), same.path(same.source.path)])
    assert (parsed[0].width, parsed[0].height, parsed[0].enlarge) == (8192, 8192, True)
    assert parsed[0].format is not None and parsed[0].format.value == "avif"
    assert (parsed[1].width, parsed[1].height) == (0, 0)
    assert quality_of(Settings(), parsed[0]) == Settings().formats.avif_quality


def tiny_job(tmp_path: Path, options: str, ext: str) -> Job:
    source, warm = tmp_path / "t.jpg", tmp_path / "w.jpg"
    source.write_bytes(imagegen.jpeg(320, 240))
    warm.write_bytes(imagegen.jpeg(32, 24))
    settings = Settings()
    parsed, warmed = resolve(
        settings,
        [
            f"/insecure/{options}/plain/local:///t.jpg@{ext}",
            f"/insecure/cb:warm/plain/local:///w.jpg@{ext}",
        ],
    )
    return Job("tiny", source, warm, parsed, warmed, quality_of(settings, parsed), 1)


def test_a_render_measured_in_a_fresh_process(tmp_path: Path) -> None:
    got = in_fresh_process(memory._measure, tiny_job(tmp_path, "rs:fit:640:640:1", "png"))
    assert got.result == "640x480"
    assert got.estimated > got.measured >= 0
    assert got.output_bytes > 0 and got.source_bytes > 0
    table = memory.grid_table([got])
    assert table[-1].startswith("| tiny | 0.1 | 640x480 |")
    assert "lowest" in memory.summary([got])[0]


def test_freed_memory_in_render_threads_with_a_trim(tmp_path: Path) -> None:
    big = tiny_job(tmp_path, "rs:fit:640:640:1", "webp")
    small = tiny_job(tmp_path, "rs:fit:64:64:0", "jpeg")
    job = freed.FreedJob("tiny", big, small, 2, 3, 0.0, True, False, 2)
    got = in_fresh_process(freed._freed, job)
    assert len(got.after_render_mb) == len(got.after_trim_mb) == len(got.trim_ms) == 2
    assert got.small_render_ms > 0
    assert freed.freed_table([got])[-1].startswith("| tiny |")


@pytest.mark.parametrize(
    ("ratios", "lowest"),
    [([1.5, 1.2, 3.0], "1.20"), ([0.9, 1.1], "0.90")],
)
def test_the_summary_names_the_lowest_ratio(ratios: list[float], lowest: str) -> None:
    rows = [
        memory.Measured(f"c{i}", 1.0, "1x1", 200 * memory.MB, int(r * 200 * memory.MB), 1, 1, 1)
        for i, r in enumerate(ratios)
    ]
    line = memory.summary(rows)[0]
    assert f"lowest {lowest}" in line
    assert f"{sum(r < 1 for r in ratios)} of {len(ratios)} cases below 1" in line
    assert memory.summary([]) == []
