"""bench/corpus.py at tiny sizes: formats, determinism, the manifest, the edge files.

Most tests read stand-in source photos written here, so they run without scikit-image;
one test reads the photos that scikit-image ships, when it is installed (the `bench` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pyvips

from bench import corpus
from bench.corpus import CorpusImage, Size, generate
from tests import imagegen

TINY = Size("T", 96, 64)
TINY_EDGE = Size("edge", 160, 120)  # the GIF pans over 40x30: frames must differ
SUFFIXES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-ins for scikit-image's photos: same names, small, each a little different."""
    folder = tmp_path_factory.mktemp("sources")
    for i, name in enumerate(corpus.SOURCES):
        imagegen.pattern(40 + 8 * i, 30 + 4 * i).write_to_file(str(folder / name))
    return folder


def tiny(directory: Path, sources: Path, **options: object) -> list[CorpusImage]:
    kwargs: dict[str, object] = {"edge": None, "directory": directory, "sources": sources}
    return generate([TINY], {"T": 2}, **{**kwargs, **options})  # type: ignore[arg-type]


def test_every_picture_in_every_format_at_its_size(tmp_path: Path, sources: Path) -> None:
    images = tiny(tmp_path, sources)
    assert [(i.name, i.format) for i in images] == [
        (f"t{n}", fmt) for n in (1, 2) for fmt in ("jpeg", "png", "webp", "avif")
    ]
    for image in images:
        assert image.path == tmp_path / f"{image.name}{SUFFIXES[image.format]}"
        assert (image.size, image.width, image.height) == ("T", 96, 64)
        decoded = pyvips.Image.new_from_file(str(image.path))
        assert (decoded.width, decoded.height, decoded.bands) == (96, 64, 3)
        assert decoded.format == "uchar"
    jpeg = pyvips.Image.new_from_file(str(tmp_path / "t1.jpg"))
    assert jpeg.get("jpeg-multiscan") == 0  # baseline
    assert jpeg.get("jpeg-chroma-subsample") == "4:2:0"
    assert not jpeg.get_typeof("exif-data")  # no metadata


def test_same_parameters_same_bytes(tmp_path: Path, sources: Path) -> None:
    first = tiny(tmp_path / "a", sources)
    second = tiny(tmp_path / "b", sources)
    for a, b in zip(first, second, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name


def test_pictures_differ_and_look_grainy(tmp_path: Path, sources: Path) -> None:
    images = tiny(tmp_path, sources, formats=("png",))
    one, two = (pyvips.Image.new_from_file(str(i.path)) for i in images)
    assert (one - two).abs().avg() > 5
    # Grain: neighbouring pixels differ by a few levels even where the source is smooth.
    assert (one.crop(0, 0, 95, 64) - one.crop(1, 0, 95, 64)).abs().avg() > 2


def test_fresh_files_are_kept(tmp_path: Path, sources: Path) -> None:
    images = tiny(tmp_path, sources)
    inodes = {i.path: i.path.stat().st_ino for i in images}
    again = tiny(tmp_path, sources)
    assert again == images
    assert {i.path: i.path.stat().st_ino for i in again} == inodes


def test_stale_files_are_written_again(
    tmp_path: Path, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny(tmp_path, sources)
    (tmp_path / "t1.png").write_bytes(b"not the file the manifest describes")
    monkeypatch.setattr(corpus, "GENERATOR_VERSION", corpus.GENERATOR_VERSION + 1)
    tiny(tmp_path, sources, formats=("png", "jpeg"))
    manifest = json.loads((tmp_path / corpus.MANIFEST).read_text())
    for name in ("t1.png", "t1.jpg", "t2.png", "t2.jpg"):
        assert manifest[name]["params"]["generator"] == corpus.GENERATOR_VERSION
    assert manifest["t1.webp"]["params"]["generator"] == corpus.GENERATOR_VERSION - 1
    assert pyvips.Image.new_from_file(str(tmp_path / "t1.png")).width == 96


def test_force_rewrites(tmp_path: Path, sources: Path) -> None:
    tiny(tmp_path, sources, formats=("jpeg",))
    path = tmp_path / "t1.jpg"
    before = path.stat().st_ino
    tiny(tmp_path, sources, formats=("jpeg",), force=True)
    assert path.stat().st_ino != before  # written anew (a new file renamed over it)


def test_edge_files(tmp_path: Path, sources: Path) -> None:
    images = generate([], edge=TINY_EDGE, directory=tmp_path, sources=sources)
    by_name = {i.name: i for i in images}
    assert list(by_name) == [
        "edge-progressive",
        "edge-exif6",
        "edge-cmyk",
        "edge-png16",
        "edge-animated",
    ]
    assert {i.size for i in images} == {"edge"}

    def load(name: str, **options: object) -> pyvips.Image:
        return pyvips.Image.new_from_file(str(by_name[name].path), **options)

    assert load("edge-progressive").get("jpeg-multiscan") == 1
    stored = load("edge-exif6")
    assert (stored.width, stored.height, stored.get("orientation")) == (120, 160, 6)
    shown = stored.autorot()
    assert (shown.width, shown.height) == (160, 120)
    assert (by_name["edge-exif6"].width, by_name["edge-exif6"].height) == (160, 120)
    # Displayed, it is the progressive file's picture (both lossy: compare loosely).
    assert (shown - load("edge-progressive")).abs().avg() < 8
    cmyk = load("edge-cmyk")
    assert (cmyk.interpretation, cmyk.bands) == ("cmyk", 4)
    assert cmyk.get_typeof("icc-profile-data")
    png16 = load("edge-png16")
    assert (png16.format, png16.interpretation, png16.bands) == ("ushort", "rgb16", 3)
    assert (png16 % 257).abs().max() > 0  # low bits carry information, not just x 257
    gif = load("edge-animated", n=-1)
    frame = by_name["edge-animated"]
    assert gif.get("n-pages") == corpus.GIF_FRAMES
    assert (gif.width, gif.get_page_height()) == (frame.width, frame.height)


def test_edge_entries_come_from_the_manifest_when_fresh(tmp_path: Path, sources: Path) -> None:
    first = generate([], edge=TINY_EDGE, directory=tmp_path, sources=sources)
    assert generate([], edge=TINY_EDGE, directory=tmp_path, sources=sources) == first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d, s: generate(["Q"], directory=d, sources=s), "unknown size 'Q'"),
        (lambda d, s: generate(["M"], {"L": 1}, directory=d, sources=s), "'L' is not among"),
        (lambda d, s: generate(["M"], {"M": -1}, directory=d, sources=s), "integer >= 0"),
        (lambda d, s: generate(["M"], formats=["tiff"], directory=d, sources=s), "'tiff'"),
    ],
)
def test_bad_arguments_name_the_parameter(
    tmp_path: Path, sources: Path, call: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(tmp_path, sources)  # type: ignore[operator]


def test_names_bench_load_imports() -> None:
    assert (corpus.MEDIUM.name, corpus.MEDIUM.width, corpus.MEDIUM.height) == ("m", 2040, 1360)
    assert (corpus.LARGE.name, corpus.LARGE.width, corpus.LARGE.height) == ("l", 4032, 3024)
    assert (corpus.XLARGE.name, corpus.XLARGE.width, corpus.XLARGE.height) == ("xl", 7360, 4912)
    assert min(corpus.PER_SIZE["M"], corpus.PER_SIZE["L"]) >= corpus.IMAGES_PER_SIZE
    assert corpus.CORPUS_DIR.name == ".corpus"


def test_real_photos_code_like_photos(tmp_path: Path) -> None:
    folder = corpus.source_dir()
    assert all((folder / name).is_file() for name in corpus.SOURCES)
    size = Size("S", 408, 272)  # M / 5
    images = generate([size], {"S": 4}, formats=("jpeg",), edge=None, directory=tmp_path)
    for image in images:
        bits_per_pixel = image.path.stat().st_size * 8 / (image.width * image.height)
        assert 1.5 < bits_per_pixel < 6, (image.name, bits_per_pixel)
