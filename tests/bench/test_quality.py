"""bench/quality.py: output geometry, the reference resize, SSIM and its lenient score."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from bench import quality
from bench.corpus import CorpusImage
from bench.quality import SizeMismatch, output_size, reference, score, ssim
from bench.workloads import Workload
from tests import imagegen


def work(op: str, width: int, height: int, out_format: str = "png") -> Workload:
    quality_ = None if out_format == "png" else 80
    return Workload("t", "T", "png", op, width, height, out_format, quality_)


def textured(w: int, h: int) -> pyvips.Image:
    """A smooth pattern with a little seeded grain: 8-bit sRGB."""
    grain = pyvips.Image.gaussnoise(w, h, sigma=3.0, mean=0.0, seed=7)
    return (imagegen.pattern(w, h) + grain).cast("uchar").copy(interpretation="srgb")


def png(image: pyvips.Image) -> bytes:
    return bytes(image.cast("uchar").copy(interpretation="srgb").pngsave_buffer())


def corpus_image(tmp_path: Path, name: str, data: bytes, width: int, height: int) -> CorpusImage:
    path = tmp_path / name
    path.write_bytes(data)
    fmt = {"jpg": "jpeg", "png": "png"}[name.rsplit(".", 1)[1]]
    return CorpusImage(name.split(".")[0], "T", fmt, path, width, height)


# --- geometry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "op", "box", "out"),
    [
        ((2040, 1360), "fit", (512, 512), (512, 341)),
        ((4032, 3024), "fit", (512, 512), (512, 384)),
        ((7360, 4912), "fit", (512, 512), (512, 342)),  # 341.7 rounds up
        ((2040, 1360), "fill", (300, 200), (300, 200)),
        ((4032, 3024), "fill", (300, 200), (300, 200)),
        ((100, 50), "fit", (512, 512), (100, 50)),  # never enlarged
        ((100, 50), "fill", (300, 200), (100, 50)),
        ((400, 100), "fill", (300, 200), (300, 100)),
    ],
)
def test_output_size(
    source: tuple[int, int], op: str, box: tuple[int, int], out: tuple[int, int]
) -> None:
    assert output_size(*source, op, *box) == out


def test_output_size_refuses_unknown_op() -> None:
    with pytest.raises(ValueError, match="op: expected"):
        output_size(10, 10, "crop", 5, 5)


@pytest.mark.parametrize(
    ("source", "out", "region"),
    [
        ((4032, 3024), (300, 200), (0, 168, 4032, 2688)),
        ((2040, 1360), (300, 200), (0, 0, 2040, 1360)),
        ((1000, 1000), (300, 200), (0, 166, 1000, 667)),  # 166.5: half a source pixel up
        ((400, 100), (300, 100), (50, 0, 300, 100)),
    ],
)
def test_centred_region(
    source: tuple[int, int], out: tuple[int, int], region: tuple[int, int, int, int]
) -> None:
    assert quality.centred_region(*source, *out) == region


# --- SSIM --------------------------------------------------------------------------------


def test_identical_is_one_blur_is_less_noise_less_still() -> None:
    original = textured(96, 64)
    ref = original.cast("float")
    assert ssim(png(original), ref) == pytest.approx(1.0, abs=1e-9)
    blurred = ssim(png(original.gaussblur(1.0)), ref)
    noise = pyvips.Image.gaussnoise(96, 64, sigma=20.0, mean=0.0, seed=3)
    noisy = ssim(png(original + noise), ref)
    assert 0 < noisy < blurred < 0.999


def test_ssim_matches_scikit_image() -> None:
    import numpy as np
    from skimage import metrics

    x = textured(80, 60)
    y = (x + pyvips.Image.gaussnoise(80, 60, sigma=10.0, mean=0.0, seed=5)).cast("uchar")

    def plane(image: pyvips.Image) -> object:
        luma = quality.luma(image)
        return np.ndarray((60, 80), np.float64, luma.write_to_memory())

    expected = metrics.structural_similarity(
        plane(x),
        plane(y),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim(png(y), x.cast("float")) == pytest.approx(expected, abs=1e-6)


def test_ssim_is_strict_about_size() -> None:
    with pytest.raises(SizeMismatch, match="output is 95x64, the reference 96x64") as caught:
        ssim(png(textured(95, 64)), textured(96, 64).cast("float"))
    assert (caught.value.output, caught.value.reference) == ((95, 64), (96, 64))


def test_ssim_needs_a_whole_window() -> None:
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(png(textured(10, 40)), textured(10, 40).cast("float"))


# --- reference ---------------------------------------------------------------------------


def test_reference_fit_never_enlarges(tmp_path: Path) -> None:
    image = corpus_image(tmp_path, "a.png", png(textured(160, 120)), 160, 120)
    ref = reference(image, work("fit", 64, 64), cache_dir=None)
    assert (ref.width, ref.height, ref.bands, ref.format) == (64, 48, 3, "float")
    assert ref.min() >= 0 and ref.max() <= 255
    same = reference(image, work("fit", 512, 512), cache_dir=None)
    assert (same.width, same.height) == (160, 120)
    assert (same - pyvips.Image.new_from_file(str(image.path))).abs().max() == 0


def test_reference_applies_exif_orientation(tmp_path: Path) -> None:
    data = imagegen.jpeg_with_orientation(6, 160, 120)
    image = corpus_image(tmp_path, "rotated.jpg", data, 160, 120)
    ref = reference(image, work("fit", 80, 80), cache_dir=None)
    assert (ref.width, ref.height) == (80, 60)
    top_left = ref.crop(0, 0, 10, 10).avg()  # the red block is top-left when displayed
    red = ref.crop(0, 0, 10, 10)[0].avg()
    assert red > 150 and red > top_left


def test_reference_of_cmyk_and_16_bit_is_srgb(tmp_path: Path) -> None:
    cmyk = corpus_image(tmp_path, "c.jpg", imagegen.cmyk_jpeg(160, 120), 160, 120)
    assert reference(cmyk, work("fit", 64, 64), cache_dir=None).bands == 3
    eight = corpus_image(tmp_path, "8.png", imagegen.png(160, 120), 160, 120)
    sixteen = corpus_image(tmp_path, "16.png", imagegen.png(160, 120, bits16=True), 160, 120)
    a = reference(eight, work("fit", 64, 64), cache_dir=None)
    b = reference(sixteen, work("fit", 64, 64), cache_dir=None)
    assert (a - b).abs().max() < 1e-3


def test_reference_is_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    image = corpus_image(tmp_path, "a.png", png(textured(160, 120)), 160, 120)
    cache = tmp_path / "refs"
    first = reference(image, work("fill", 60, 40), cache_dir=cache)
    assert reference(image, work("fill", 60, 40), cache_dir=cache) is first
    (stored,) = cache.glob("*.f32")
    assert "fill60x40-60x40-centre" in stored.name
    quality._reference.cache_clear()
    again = reference(image, work("fill", 60, 40), cache_dir=cache)
    assert again is not first and (again - first).abs().max() == 0
    # Another output format, same geometry: the same reference.
    assert reference(image, work("fill", 60, 40, "jpeg"), cache_dir=cache) is again


def test_reference_refuses_bad_crops(tmp_path: Path) -> None:
    image = corpus_image(tmp_path, "a.png", png(textured(160, 120)), 160, 120)
    with pytest.raises(ValueError, match="crop: expected one of"):
        reference(image, work("fill", 60, 40), crop="middle", cache_dir=None)
    with pytest.raises(ValueError, match="needs the expected size"):
        reference(image, work("fill", 60, 40), crop="floor", size=(59, 40), cache_dir=None)


# --- score -------------------------------------------------------------------------------


def test_score_forgives_the_rounding_of_the_fill_centre(tmp_path: Path) -> None:
    image = corpus_image(tmp_path, "a.png", png(textured(160, 120)), 160, 120)
    fill = work("fill", 60, 40)  # resized 60x45: 5 spare rows, the centre at 2.5
    for crop in ("floor", "ceil"):
        made = reference(image, fill, crop=crop, cache_dir=None)  # like a server would
        found = score(png(made), image, fill, cache_dir=None)
        assert (found.crop, found.size_off, found.width, found.height) == (crop, False, 60, 40)
        assert found.ssim > 0.999


def test_score_compares_an_off_by_one_output_at_its_own_size(tmp_path: Path) -> None:
    image = corpus_image(tmp_path, "a.png", png(textured(161, 120)), 161, 120)
    fit = work("fit", 64, 64)  # 64 x 47.7 -> 48; a server that floors returns 47
    made = reference(image, fit, size=(64, 47), cache_dir=None)
    found = score(png(made), image, fit, cache_dir=None)
    assert (found.width, found.height, found.size_off, found.crop) == (64, 47, True, "centre")
    assert found.ssim > 0.999
    with pytest.raises(SizeMismatch):
        score(png(made.crop(0, 0, 60, 44)), image, fit, cache_dir=None)
