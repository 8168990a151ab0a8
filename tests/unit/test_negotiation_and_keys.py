import dataclasses

import pytest

from imgfleet.core.cache_key import render_key
from imgfleet.core.encoding import AvifTune, EncoderConfig, Qualities
from imgfleet.core.errors import OverLimit
from imgfleet.core.geometry import Orientation, Plan
from imgfleet.core.limits import Limits, check_result, check_source
from imgfleet.core.negotiation import accepted, negotiate
from imgfleet.core.options import ImageFormat, ProcessingOptions, SecurityOverrides
from imgfleet.core.source import SourceInfo

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_OLD = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"


@pytest.mark.parametrize(
    ("accept", "avif", "webp", "expected"),
    [
        (CHROME, True, True, ImageFormat.AVIF),
        (CHROME, False, True, ImageFormat.WEBP),
        (CHROME, False, False, None),
        (SAFARI_OLD, True, True, ImageFormat.WEBP),
        ("*/*", True, True, None),
        ("image/*", True, True, None),
        ("", True, True, None),
        ("image/avif;q=0, image/webp", True, True, ImageFormat.WEBP),
        ("IMAGE/AVIF", True, True, ImageFormat.AVIF),
    ],
)
def test_negotiate(accept: str, avif: bool, webp: bool, expected: ImageFormat | None) -> None:
    assert negotiate(accept, prefer_avif=avif, prefer_webp=webp) is expected


def test_accepted_ignores_broken_q() -> None:
    assert not accepted("image/webp;q=abc", "image/webp")
    assert accepted("image/webp;level=1", "image/webp")


def key(options: ProcessingOptions, target: ImageFormat | None = ImageFormat.JPEG) -> str:
    return render_key(options, "local:///a.jpg", target, "vips-test", 80)


def test_key_ignores_response_only_fields_and_default_quality() -> None:
    base = ProcessingOptions(width=300)
    assert key(base) == key(dataclasses.replace(base, filename="x", return_attachment=True))
    assert key(base) == key(dataclasses.replace(base, expires=2_000_000_000))
    assert key(base) == key(dataclasses.replace(base, quality=80))
    assert key(base) == key(dataclasses.replace(base, format_quality=((ImageFormat.JPEG, 80),)))


def test_key_changes_with_pixels_source_target_and_engine() -> None:
    base = ProcessingOptions(width=300)
    keys = {
        key(base),
        key(dataclasses.replace(base, width=301)),
        key(dataclasses.replace(base, quality=81)),
        key(dataclasses.replace(base, cachebuster="2")),
        key(base, ImageFormat.WEBP),
        key(base, None),
        render_key(base, "local:///b.jpg", ImageFormat.JPEG, "vips-test", 80),
        render_key(base, "local:///a.jpg", ImageFormat.JPEG, "vips-next", 80),
    }
    assert len(keys) == 8


LIMITS = Limits(
    max_src_bytes=1000,
    max_src_megapixels=10,
    max_frames=5,
    max_frame_megapixels=4,
    max_result_dimension=100,
)


@pytest.mark.parametrize(
    ("info", "limit_name"),
    [
        (SourceInfo(ImageFormat.PNG, 50_000, 50_000), "max_frame_megapixels"),
        (SourceInfo(ImageFormat.GIF, 10, 10, pages=6), "max_frames"),
        (SourceInfo(ImageFormat.GIF, 2000, 1500, pages=4), "max_src_megapixels"),
    ],
)
def test_source_limits_name_the_limit(info: SourceInfo, limit_name: str) -> None:
    with pytest.raises(OverLimit) as caught:
        check_source(info, LIMITS)
    assert limit_name in caught.value.public_message
    assert caught.value.status == 422


def test_source_within_limits_and_overrides() -> None:
    check_source(SourceInfo(ImageFormat.GIF, 1000, 1000, pages=5), LIMITS)
    raised = LIMITS.overridden(SecurityOverrides(max_animation_frames=10))
    check_source(SourceInfo(ImageFormat.GIF, 10, 10, pages=6), raised)
    assert LIMITS.overridden(SecurityOverrides()) == LIMITS


def _plan(width: int, height: int) -> Plan:
    return Plan(Orientation(), width, height, None, width, height, None, False, None, None, None)


def test_result_limit() -> None:
    check_result(_plan(100, 50), LIMITS)
    with pytest.raises(OverLimit, match="max_result_dimension"):
        check_result(_plan(101, 50), LIMITS)


@pytest.mark.parametrize(
    ("quality", "per_format", "expected"),
    [
        (None, (), 80),
        (None, ((ImageFormat.PNG, 50), (ImageFormat.WEBP, 60)), 60),
        (None, ((ImageFormat.PNG, 50),), 80),
        (90, ((ImageFormat.WEBP, 60),), 90),
    ],
)
def test_quality_for_prefers_q_then_fq_then_the_default(
    quality: int | None, per_format: tuple[tuple[ImageFormat, int], ...], expected: int
) -> None:
    options = ProcessingOptions(quality=quality, format_quality=per_format)
    assert options.quality_for(ImageFormat.WEBP, 80) == expected


def test_encoder_settings_that_change_bytes_change_the_fingerprint() -> None:
    base = EncoderConfig()
    unchanged = EncoderConfig(qualities=Qualities(default=50), svg_input=True)
    assert base.fingerprint() == unchanged.fingerprint()  # keys resolve qualities themselves
    changes: list[dict[str, object]] = [
        {"avif_tune": AvifTune.IQ},
        {"avif_effort": 5},
        {"jpeg_progressive": True},
        {"png_compression": 9},
        {"strip_metadata": False},
    ]
    for change in changes:
        assert EncoderConfig(**change).fingerprint() != base.fingerprint()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("qualities", "expected"),
    [
        (Qualities(), {"jpeg": 80, "webp": 80, "avif": 65, "png": 80}),
        (Qualities(70, jpeg=90, webp=60, avif=None), {"jpeg": 90, "webp": 60, "avif": 70}),
    ],
)
def test_default_quality_per_format(qualities: Qualities, expected: dict[str, int]) -> None:
    for fmt, quality in expected.items():
        assert qualities.for_format(ImageFormat(fmt)) == quality
