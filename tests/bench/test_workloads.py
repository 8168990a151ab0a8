"""bench/workloads.py: the table of issue 3 item 4, its quick subset, its checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpus import CorpusImage
from bench.workloads import HEADLINE, QUICK, WORKLOADS, Workload, by_name


def cell(w: Workload) -> tuple[object, ...]:
    return (w.size, w.source_format, w.op, w.box, w.out_format, w.quality)


def test_the_issue_cells_are_all_there() -> None:
    assert {cell(w) for w in WORKLOADS} == {
        ("M", "jpeg", "fit", "512x512", "jpeg", 80),
        ("L", "jpeg", "fit", "512x512", "jpeg", 80),
        ("M", "jpeg", "fit", "512x512", "webp", 75),
        ("M", "jpeg", "fit", "512x512", "avif", 65),
        ("M", "png", "fit", "512x512", "png", None),
        ("M", "jpeg", "fill", "300x200", "jpeg", 80),
        ("L", "jpeg", "fill", "300x200", "jpeg", 80),
    }


def test_headline_is_first_and_baseline_420() -> None:
    assert WORKLOADS[0] is HEADLINE
    assert HEADLINE.name == "fit512-jpeg"
    assert cell(HEADLINE) == ("M", "jpeg", "fit", "512x512", "jpeg", 80)
    assert all(w.subsample == "4:2:0" for w in WORKLOADS if w.out_format in ("jpeg", "avif"))


def test_every_setting_is_stated() -> None:
    for w in WORKLOADS:
        if w.out_format in ("webp", "avif"):
            assert w.effort is not None, w.name
        if w.out_format == "png":
            assert (w.quality, w.compression) == (None, 6)


def test_names_unique_and_quick_is_a_subset() -> None:
    names = [w.name for w in WORKLOADS]
    assert len(set(names)) == len(names)
    assert QUICK and set(QUICK) <= set(WORKLOADS)
    assert HEADLINE in QUICK


def test_label() -> None:
    assert HEADLINE.label == "M JPEG → fit 512x512, JPEG q80"
    assert by_name(["fit512-png"])[0].label == "M PNG → fit 512x512, PNG"


def test_inputs_pick_size_and_format_in_corpus_order() -> None:
    def image(name: str, size: str, fmt: str) -> CorpusImage:
        return CorpusImage(name, size, fmt, Path(f"{name}.{fmt}"), 10, 10)

    corpus = [
        image("m1", "M", "jpeg"),
        image("m1", "M", "png"),
        image("l1", "L", "jpeg"),
        image("m2", "M", "jpeg"),
        image("edge-cmyk", "edge", "jpeg"),
    ]
    assert [i.name for i in HEADLINE.inputs(corpus)] == ["m1", "m2"]
    assert [i.name for i in by_name(["fit512-png"])[0].inputs(corpus)] == ["m1"]


def test_by_name_keeps_order_and_names_the_unknown() -> None:
    assert [w.name for w in by_name(["fit512-png", "fit512-jpeg"])] == [
        "fit512-png",
        "fit512-jpeg",
    ]
    with pytest.raises(ValueError, match=r"unknown \['nope'\]"):
        by_name(["fit512-jpeg", "nope"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"op": "crop"}, "op must be one of"),
        ({"out_format": "gif"}, "out_format must be one of"),
        ({"width": 0}, "width and height"),
        ({"quality": None}, "quality is required"),
        ({"quality": 101}, "quality must be 1..100"),
        ({"out_format": "png"}, "quality is required for lossy formats, else None"),
    ],
)
def test_bad_workloads_are_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "x",
        "size": "M",
        "source_format": "jpeg",
        "op": "fit",
        "width": 512,
        "height": 512,
        "out_format": "jpeg",
        "quality": 80,
    }
    with pytest.raises(ValueError, match=message):
        Workload(**{**fields, **changes})  # type: ignore[arg-type]
