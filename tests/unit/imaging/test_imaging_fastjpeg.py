"""The simplejpeg fast path: taken only for plain JPEG resizes, same picture as libvips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import simplejpeg

from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.geometry import Box
from imgfleet.core.options import ImageFormat, ProcessingOptions, Trim
from imgfleet.core.source import SourceInfo
from imgfleet.imaging import fastjpeg
from tests import imagegen

from .conftest import Render, close, decode, dhash, hamming, make_plan, mean

W, H = 800, 600


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records the size of every fast-path decode."""
    seen: list[tuple[int, int]] = []
    real: Callable[..., Any] = simplejpeg.decode_jpeg

    def spy(*args: Any, **kwargs: Any) -> Any:
        pixels = real(*args, **kwargs)
        seen.append((pixels.shape[1], pixels.shape[0]))
        return pixels

    monkeypatch.setattr(fastjpeg.simplejpeg, "decode_jpeg", spy)
    return seen


def test_a_plain_jpeg_resize_takes_the_fast_path(
    render: Render, calls: list[tuple[int, int]]
) -> None:
    out = render(imagegen.jpeg(W, H), make_plan(W, H, 150, 113), "jpeg")
    image = decode(out)
    assert (image.width, image.height) == (150, 113)
    assert calls == [(200, 150)]  # 2/8 scale: the smallest n/8 that keeps 150x113


def test_the_fast_path_draws_the_same_picture(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = imagegen.jpeg(W, H)
    plan = make_plan(W, H, 150, 113)
    fast = decode(render(data, plan))
    monkeypatch.setattr(fastjpeg, "AVAILABLE", False)
    slow = decode(render(data, plan))
    assert (fast.width, fast.height) == (slow.width, slow.height)
    assert hamming(dhash(fast), dhash(slow)) <= 2
    assert close(mean(fast), mean(slow), 2)


@pytest.mark.parametrize(
    ("make", "plan_fields", "options"),
    [
        (lambda: imagegen.jpeg(W, H), {"crop": Box(0, 0, 400, 300)}, {}),
        (lambda: imagegen.jpeg(W, H), {"result_crop": None, "smart_crop": True}, {}),
        (lambda: imagegen.jpeg(W, H), {}, {"trim": Trim(threshold=10)}),
        (lambda: imagegen.jpeg(W, H), {}, {"blur": 1.0}),
        (lambda: imagegen.jpeg(W, H), {}, {"strip_metadata": False}),
        (lambda: imagegen.cmyk_jpeg(W, H), {}, {}),
        (lambda: imagegen.png(W, H), {}, {}),
    ],
    ids=["crop", "smart", "trim", "blur", "keep-metadata", "cmyk", "png"],
)
def test_anything_else_takes_libvips(
    render: Render,
    calls: list[tuple[int, int]],
    make: Callable[[], bytes],
    plan_fields: dict[str, Any],
    options: dict[str, Any],
) -> None:
    render(make(), make_plan(W, H, 150, 113, **plan_fields), **options)
    assert calls == []


def test_small_reductions_take_libvips(render: Render, calls: list[tuple[int, int]]) -> None:
    render(imagegen.jpeg(W, H), make_plan(W, H, 500, 375))
    assert calls == []


def test_truncated_jpeg_on_the_fast_path_is_unsupported_media(
    render: Render, calls: list[tuple[int, int]]
) -> None:
    with pytest.raises(UnsupportedMedia, match="jpeg image is corrupt or truncated"):
        render(imagegen.truncated(imagegen.jpeg(W, H)), make_plan(W, H, 150, 113))


def test_default_options_allow_the_fast_path() -> None:
    info = SourceInfo(ImageFormat.JPEG, W, H)
    assert fastjpeg.applies(info, make_plan(W, H, 150, 113), ProcessingOptions())
