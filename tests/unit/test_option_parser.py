"""Unit tests for `imgfleet.core.option_parser` (imgproxy URL dialect -> ProcessingOptions)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfleet.core.errors import BadOption, BadRequest, ImgfleetError
from imgfleet.core.option_parser import (
    ParsedPath,
    Presets,
    compile_presets,
    parse_path,
)
from imgfleet.core.options import (
    Color,
    Crop,
    Extend,
    Gravity,
    GravityType,
    ImageFormat,
    Padding,
    ProcessingOptions,
    ResizingType,
    SecurityOverrides,
    Trim,
)

D = ProcessingOptions()
NO_PRESETS = Presets()
SRC = "/plain/local:///a.jpg"


def parse(options: str, *, presets: Presets = NO_PRESETS, **kw: Any) -> ProcessingOptions:
    path = f"/{options}{SRC}" if options else SRC
    return parse_path(path, defaults=D, presets=presets, **kw).options


def bad_option(options: str, **kw: Any) -> BadOption:
    with pytest.raises(BadOption) as info:
        parse(options, **kw)
    assert info.value.status == 400
    return info.value


def bad_request(path: str, **kw: Any) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_path(path, defaults=D, presets=NO_PRESETS, **kw)
    assert info.value.status == 400
    assert not isinstance(info.value, BadOption)
    return info.value


def b64(text: str, *, pad: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


# ---- every option, full and short names -----------------------------------------------------

SEC = SecurityOverrides
OPTION_CASES: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (
        ("resize", "rs"),
        "fill:300:400:1:1",
        dict(
            resizing_type=ResizingType.FILL,
            width=300,
            height=400,
            enlarge=True,
            extend=Extend(True),
        ),
    ),
    (("size", "s"), "100:200:t", dict(width=100, height=200, enlarge=True)),
    (("resizing_type", "rt"), "fill-down", dict(resizing_type=ResizingType.FILL_DOWN)),
    (("width", "w"), "10", dict(width=10)),
    (("height", "h"), "20", dict(height=20)),
    (("min-width", "min_width", "mw"), "30", dict(min_width=30)),
    (("min-height", "min_height", "mh"), "40", dict(min_height=40)),
    (("zoom", "z"), "1.5:2", dict(zoom_x=1.5, zoom_y=2.0)),
    (("dpr",), "2", dict(dpr=2.0)),
    (("enlarge", "el"), "true", dict(enlarge=True)),
    (("extend", "ex"), "1:so:10:20", dict(extend=Extend(True, Gravity(GravityType.SOUTH, 10, 20)))),
    (
        ("extend_aspect_ratio", "extend_ar", "exar"),
        "1:fp:0.25:0.75",
        dict(extend_aspect_ratio=Extend(True, Gravity(GravityType.FOCUS_POINT, 0.25, 0.75))),
    ),
    (("gravity", "g"), "nowe:5:0.5", dict(gravity=Gravity(GravityType.NORTH_WEST, 5, 0.5))),
    (("crop", "c"), "100:50:ea", dict(crop=Crop(100, 50, Gravity(GravityType.EAST)))),
    (("trim", "t"), "10:ff00ff:1:0", dict(trim=Trim(10, Color(255, 0, 255), True, False))),
    (("padding", "pd"), "1:2:3:4", dict(padding=Padding(1, 2, 3, 4))),
    (("auto_rotate", "ar"), "0", dict(auto_rotate=False)),
    (("rotate", "rot"), "180", dict(rotate=180)),
    (("flip", "fl"), "1:1", dict(flip_horizontal=True, flip_vertical=True)),
    (("background", "bg"), "255:0:10", dict(background=Color(255, 0, 10))),
    (("blur", "bl"), "1.5", dict(blur=1.5)),
    (("sharpen", "sh"), "0.7", dict(sharpen=0.7)),
    (("pixelate", "pix"), "8", dict(pixelate=8)),
    (("strip_metadata", "sm"), "f", dict(strip_metadata=False)),
    (("keep_copyright", "kcr"), "FALSE", dict(keep_copyright=False)),
    (("strip_color_profile", "scp"), "False", dict(strip_color_profile=False)),
    (("enforce_thumbnail", "eth"), "T", dict(enforce_thumbnail=True)),
    (("quality", "q"), "75", dict(quality=75)),
    (
        ("format_quality", "fq"),
        "webp:60:jpg:70",
        dict(format_quality=((ImageFormat.JPEG, 70), (ImageFormat.WEBP, 60))),
    ),
    (("max_bytes", "mb"), "1000", dict(max_bytes=1000)),
    (("format", "f", "ext"), "webp", dict(format=ImageFormat.WEBP)),
    (
        ("skip_processing", "skp"),
        "svg:gif",
        dict(skip_processing=frozenset({ImageFormat.SVG, ImageFormat.GIF})),
    ),
    (("raw",), "1", dict(raw=True)),
    (("cachebuster", "cb"), "v2", dict(cachebuster="v2")),
    (("expires", "exp"), "1700000000", dict(expires=1700000000)),
    (("filename", "fn"), "photo.jpg", dict(filename="photo.jpg")),
    (("return_attachment", "att"), "1", dict(return_attachment=True)),
    (("max_src_resolution", "msr"), "12.5", dict(security=SEC(max_src_resolution=12.5))),
    (("max_src_file_size", "msfs"), "1048576", dict(security=SEC(max_src_file_size=1048576))),
    (("max_animation_frames", "maf"), "10", dict(security=SEC(max_animation_frames=10))),
    (
        ("max_animation_frame_resolution", "mafr"),
        "2",
        dict(security=SEC(max_animation_frame_resolution=2.0)),
    ),
    (("max_result_dimension", "mrd"), "4096", dict(security=SEC(max_result_dimension=4096))),
]


@pytest.mark.parametrize(
    ("names", "args", "changes"), OPTION_CASES, ids=[c[0][0] for c in OPTION_CASES]
)
def test_every_option_full_and_short_names_give_equal_values(
    names: tuple[str, ...], args: str, changes: dict[str, Any]
) -> None:
    expected = replace(D, **changes)
    for name in names:
        assert parse(f"{name}:{args}", allow_security_options=True) == expected, name


def test_no_options_gives_the_defaults() -> None:
    result = parse_path(SRC, defaults=D, presets=NO_PRESETS)
    assert result == ParsedPath(D, "local:///a.jpg")


def test_starts_from_the_given_defaults() -> None:
    defaults = replace(D, quality=60, strip_metadata=False)
    result = parse_path("/w:10" + SRC, defaults=defaults, presets=NO_PRESETS)
    assert result.options == replace(defaults, width=10)


def test_later_options_win() -> None:
    assert parse("w:10/width:20/w:30") == replace(D, width=30)
    assert parse("q:50/q:0") == D


# ---- meta-options and argument details ----------------------------------------------------------


def test_resize_omitted_and_empty_args_keep_current_values() -> None:
    base = "rt:fill/w:10/h:20/el:1"
    assert parse(f"{base}/rs::30") == parse(f"{base}/w:30")
    assert parse(f"{base}/rs:fit") == parse("rt:fit/w:10/h:20/el:1")
    assert parse(f"{base}/rs:") == parse(base)
    assert parse(f"{base}/s:::0") == parse("rt:fill/w:10/h:20/el:0")
    assert parse(f"{base}/s:5") == parse("rt:fill/w:5/h:20/el:1")


def test_size_extend_with_gravity_and_ignored_without_extend_flag() -> None:
    expected = Extend(True, Gravity(GravityType.SOUTH, 1, 2))
    assert parse("s:1:2:0:1:so:1:2").extend == expected
    assert parse("rs:fit:1:2:0:1:so:1:2").extend == expected
    assert parse("s:1:2:0::so").extend == Extend()  # like imgproxy: no flag, no extend


def test_resize_rejects_too_many_args_and_bad_parts() -> None:
    assert "at most 8" in bad_option("rs:fit:1:2:0:1:so:1:2:3").public_message
    assert "at most 7" in bad_option("s:1:2:0:1:so:1:2:3").public_message
    assert "resizing_type" in bad_option("rs:crop:1").public_message
    assert "width" in bad_option("rs:fit:-1").public_message
    assert "height" in bad_option("s:1:x").public_message
    assert "enlarge" in bad_option("s:1:1:yes").public_message


def test_zoom_one_arg_sets_both() -> None:
    assert parse("z:2") == replace(D, zoom_x=2.0, zoom_y=2.0)
    assert bad_option("z:0").option == "z"
    assert bad_option("zoom:1:0").option == "zoom"
    assert bad_option("z:1:2:3").option == "z"


def test_dpr_must_be_positive() -> None:
    assert bad_option("dpr:0").option == "dpr"
    assert bad_option("dpr:-1").option == "dpr"


def test_gravity_kinds() -> None:
    assert parse("g:sm").gravity == Gravity(GravityType.SMART)
    assert parse("g:so").gravity == Gravity(GravityType.SOUTH)
    assert parse("g:no:-10").gravity == Gravity(GravityType.NORTH, -10, 0)
    assert parse("g:fp:0:1").gravity == Gravity(GravityType.FOCUS_POINT, 0, 1)
    # a new gravity replaces the whole value, offsets included
    assert parse("g:nowe:10:10/g:so").gravity == Gravity(GravityType.SOUTH)


@pytest.mark.parametrize(
    "option", ["g:xx", "g:sm:1", "g:fp:0.5", "g:fp:1.5:0", "g:fp:0:-0.1", "g:no:a", "g:fp"]
)
def test_gravity_errors(option: str) -> None:
    error = bad_option(option)
    assert error.option == "g"
    assert "gravity" in error.public_message


def test_gravity_argument_count() -> None:
    assert "at most 3" in bad_option("g:no:1:2:3").public_message


def test_extend_gravity_excludes_smart_and_defaults_to_center() -> None:
    assert bad_option("ex:1:sm").option == "ex"
    assert parse("ex:1:so/ex:1").extend == Extend(True)
    assert parse("exar:0").extend_aspect_ratio == Extend(False)
    assert bad_option("ex:maybe").option == "ex"


def test_crop() -> None:
    assert parse("c:0.5").crop == Crop(0.5, 0)
    assert parse("c:10:20:sm").crop == Crop(10, 20, Gravity(GravityType.SMART))
    assert parse("c:10:20:fp:0.1:0.2").crop == Crop(
        10, 20, Gravity(GravityType.FOCUS_POINT, 0.1, 0.2)
    )
    assert parse("c:10/c:0:0").crop is None  # 0:0 is the full image: no crop
    assert bad_option("c:-1").option == "c"
    assert bad_option("c:1:2:so:1:2:3").option == "c"
    assert "crop gravity" in bad_option("c:1:2:up").public_message


def test_trim() -> None:
    assert parse("t:5").trim == Trim(5)
    assert parse("t:5:f0a").trim == Trim(5, Color(255, 0, 170))
    assert parse("t:5::1").trim == Trim(5, None, True, False)
    assert parse("t:5:::t").trim == Trim(5, None, False, True)
    assert parse("t:5/t:").trim is None
    assert "trim color" in bad_option("t:5:red").public_message
    assert bad_option("t:-1").option == "t"
    assert bad_option("t:1:fff:2").option == "t"


def test_padding_is_css_like() -> None:
    assert parse("pd:1").padding == Padding(1, 1, 1, 1)
    assert parse("pd:1:2").padding == Padding(1, 2, 1, 2)
    assert parse("pd:1:2:3").padding == Padding(1, 2, 3, 2)
    assert parse("pd:5/pd::0").padding == Padding(5, 0, 5, 0)
    assert parse("pd:5/pd:0").padding is None
    assert "at least one" in bad_option("pd:").public_message
    assert bad_option("pd:1:-2").option == "pd"


def test_rotate_normalises_multiples_of_90() -> None:
    assert parse("rot:-90").rotate == 270
    assert parse("rot:450").rotate == 90
    assert parse("rot:360").rotate == 0
    assert "multiple of 90" in bad_option("rot:45").public_message


def test_flip_empty_args_keep_current() -> None:
    assert parse("fl:1/fl::1") == replace(D, flip_horizontal=True, flip_vertical=True)
    assert parse("fl:1:1/fl:0") == replace(D, flip_vertical=True)
    assert bad_option("fl:1:1:1").option == "fl"


def test_background_forms() -> None:
    assert parse("bg:ff8000").background == Color(255, 128, 0)
    assert parse("bg:FFF").background == Color(255, 255, 255)
    assert parse("bg:fff/bg:").background is None
    for bad in ("bg:1:2", "bg:256:0:0", "bg:-1:0:0", "bg:gg0000", "bg:ffff", "bg:1:2:3:4"):
        assert bad_option(bad).option == "bg"


def test_effects_accept_zero_to_turn_off() -> None:
    assert parse("bl:2/bl:0/sh:1/sh:0/pix:4/pix:0") == D
    assert bad_option("bl:-1").option == "bl"


def test_quality_and_format_quality() -> None:
    assert parse("q:0").quality is None
    assert parse("q:100").quality == 100
    assert bad_option("q:101").option == "q"
    assert parse("fq:webp:60/fq:jpeg:70:webp:50").format_quality == (
        (ImageFormat.JPEG, 70),
        (ImageFormat.WEBP, 50),
    )
    assert parse("fq:webp:60/fq:webp:0").format_quality == ()
    assert "pairs" in bad_option("fq:webp:60:png").public_message
    assert bad_option("fq:svg:60").option == "fq"
    assert bad_option("fq:webp:101").option == "fq"


def test_max_bytes() -> None:
    assert parse("mb:100/mb:0").max_bytes is None
    assert bad_option("mb:-1").option == "mb"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("jpg", ImageFormat.JPEG),
        ("jpeg", ImageFormat.JPEG),
        ("JPG", ImageFormat.JPEG),
        ("tif", ImageFormat.TIFF),
        ("tiff", ImageFormat.TIFF),
        ("png", ImageFormat.PNG),
        ("webp", ImageFormat.WEBP),
        ("avif", ImageFormat.AVIF),
        ("gif", ImageFormat.GIF),
    ],
)
def test_format_names(name: str, fmt: ImageFormat) -> None:
    assert parse(f"f:{name}").format is fmt
    assert parse_path(f"/plain/a@{name}", defaults=D, presets=NO_PRESETS).options.format is fmt
    assert parse_path(f"/{b64('a')}.{name}", defaults=D, presets=NO_PRESETS).options.format is fmt


@pytest.mark.parametrize("name", ["svg", "bmp", "best", ""])
def test_format_rejects_unsavable_and_unknown(name: str) -> None:
    error = bad_option(f"format:{name}")
    assert error.option == "format"
    assert "jpeg" in error.public_message


def test_skip_processing_accumulates_and_accepts_svg() -> None:
    assert parse("skp:svg/skp:jpg:gif").skip_processing == frozenset(
        {ImageFormat.SVG, ImageFormat.JPEG, ImageFormat.GIF}
    )
    assert bad_option("skp:psd").option == "skp"


def test_cachebuster_and_expires() -> None:
    assert parse("cb:1/cb:").cachebuster is None
    assert bad_option("cb:a:b").option == "cb"
    assert parse("exp:0").expires is None
    assert parse("exp:1").expires == 1  # checking the clock is the caller's job
    assert bad_option("exp:-5").option == "exp"
    assert bad_option("exp:soon").option == "exp"


def test_filename_plain_encoded_and_percent_encoded() -> None:
    assert parse(f"fn:{b64('résumé (1).png')}:1").filename == "résumé (1).png"
    assert parse(f"fn:{b64('ab', pad=True)}:true").filename == "ab"
    assert parse("fn:my%20file.jpg").filename == "my file.jpg"
    assert parse("fn:a:0").filename == "a"
    assert parse("fn:a/fn:").filename is None
    assert "base64" in bad_option("fn:!!!:1").public_message
    assert "control" in bad_option(f"fn:{b64('a' + chr(10) + 'b')}:1").public_message
    assert "control" in bad_option("fn:a%0Db").public_message
    assert bad_option("fn:a:yes").option == "fn"
    assert bad_option("fn:a:1:2").option == "fn"


@pytest.mark.parametrize("text", ["1", "t", "T", "true", "True", "TRUE"])
def test_true_booleans(text: str) -> None:
    assert parse(f"el:{text}").enlarge is True


@pytest.mark.parametrize("text", ["0", "f", "F", "false", "False", "FALSE"])
def test_false_booleans(text: str) -> None:
    assert parse(f"el:1/el:{text}").enlarge is False


@pytest.mark.parametrize("text", ["yes", "", "2", "tRuE", "on"])
def test_invalid_booleans_are_rejected(text: str) -> None:
    error = bad_option(f"enlarge:{text}")
    assert error.option == "enlarge"
    assert "boolean" in error.public_message


@pytest.mark.parametrize(
    "value",
    ["-1", "1.5", "", "abc", "NaN", "inf", "1e3", str(2**31), "9" * 23, "1_000", " 1", "\u0661"],
)
def test_sizes_reject_non_integers_and_absurd_values(value: str) -> None:
    error = bad_option(f"w:{value}")
    assert error.option == "w"
    assert "integer" in error.public_message


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "1e10", "x"])
def test_floats_reject_nan_inf_and_absurd_values(value: str) -> None:
    assert bad_option(f"dpr:{value}").option == "dpr"


def test_float_syntax() -> None:
    assert parse("dpr:.5").dpr == 0.5
    assert parse("dpr:2.").dpr == 2.0
    assert parse("dpr:+1.5e1").dpr == 15.0
    assert parse("w:+7").width == 7


def test_size_limits() -> None:
    assert parse(f"w:{2**31 - 1}").width == 2**31 - 1
    assert parse("w:007").width == 7


# ---- errors that name the option --------------------------------------------------------------


def test_unknown_option() -> None:
    error = bad_option("wat:1")
    assert error.option == "wat"
    assert "'wat'" in error.public_message
    assert "wat:1" in error.public_message


def test_wrong_argument_count_names_option_and_received() -> None:
    error = bad_option("w:1:2")
    assert error.public_message == "option 'w': expected at most 1 argument, received '1:2'"


def test_watermark_is_not_supported_yet() -> None:
    for name in ("watermark", "wm"):
        error = bad_option(f"{name}:0.5:ce")
        assert error.option == name
        assert "not supported" in error.public_message


@pytest.mark.parametrize("name", ["msr", "max_src_file_size", "maf", "mafr", "mrd"])
def test_security_options_are_disabled_by_default(name: str) -> None:
    error = bad_option(f"{name}:1")
    assert error.option == name
    assert "disabled" in error.public_message


def test_security_option_values() -> None:
    allowed = {"allow_security_options": True}
    assert parse("msr:0", **allowed).security == SEC(max_src_resolution=0.0)
    assert bad_option("maf:0", **allowed).option == "maf"
    assert bad_option("msfs:-1", **allowed).option == "msfs"
    assert bad_option("mrd:1.5", **allowed).option == "mrd"
    assert bad_option("msr:-1", **allowed).option == "msr"
    both = parse("msr:5/mrd:100", **allowed).security
    assert both == SEC(max_src_resolution=5.0, max_result_dimension=100)


# ---- paths and sources -------------------------------------------------------------------------


def test_imgproxy_doc_examples() -> None:
    presets = compile_presets({"sharp": "sh:0.7"})
    expected = replace(
        D,
        resizing_type=ResizingType.FILL,
        width=300,
        height=400,
        gravity=Gravity(GravityType.SMART),
        sharpen=0.7,
        format=ImageFormat.PNG,
    )
    curiosity = "http://example.com/images/curiosity.jpg"
    paths = [
        f"/preset:sharp/resize:fill:300:400:0/gravity:sm/plain/{curiosity}@png",
        f"/pr:sharp/rs:fill:300:400:0/g:sm/plain/{curiosity}@png",
        "/pr:sharp/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png",
    ]
    for path in paths:
        assert parse_path(path, defaults=D, presets=presets) == ParsedPath(expected, curiosity)


def test_signing_vector_path_parses() -> None:
    path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
    result = parse_path(path, defaults=D, presets=NO_PRESETS)
    assert result.source_url == "http://example.com/images/curiosity.jpg"
    assert result.options.format is ImageFormat.PNG


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("plain/local:///a/b.jpg", "local:///a/b.jpg"),
        ("plain/s3://b/k", "s3://b/k"),
        ("plain/https://example.com/x.jpg%3Fq=1", "https://example.com/x.jpg?q=1"),
        ("plain/https://example.com/a%20b%40c%25d.jpg", "https://example.com/a b@c%d.jpg"),
        ("plain/https://example.com//double", "https://example.com//double"),
        ("plain/https://example.com/caf%C3%A9", "https://example.com/café"),
    ],
)
def test_plain_sources(source: str, url: str) -> None:
    assert parse_path(f"/w:1/{source}", defaults=D, presets=NO_PRESETS).source_url == url


@pytest.mark.parametrize(
    "url",
    ["https://example.com/x.jpg?q=1", "local:///a/b.jpg", "s3://bucket/key/café.png", "s3://b/k1"],
)
def test_base64_sources_split_unsplit_padded_or_not(url: str) -> None:
    for pad in (False, True):
        encoded = b64(url, pad=pad)
        split = "/".join(encoded[i : i + 5] for i in range(0, len(encoded), 5))
        for source in (encoded, split, encoded.replace("=", "%3D")):
            for ext, fmt in (("", None), (".webp", ImageFormat.WEBP), (".", None)):
                result = parse_path(f"/q:50/{source}{ext}", defaults=D, presets=NO_PRESETS)
                assert result == ParsedPath(replace(D, quality=50, format=fmt), url)


def test_extension_wins_over_format_option_unless_raw() -> None:
    assert parse_path("/f:png/plain/a@webp", defaults=D, presets=NO_PRESETS).options.format is (
        ImageFormat.WEBP
    )
    raw = parse_path("/f:png/raw:1/plain/a@svg", defaults=D, presets=NO_PRESETS).options
    assert raw.format is ImageFormat.PNG


@pytest.mark.parametrize("path", ["/plain/a@svg", f"/{b64('a')}.svg", "/plain/a@exe"])
def test_bad_extension_names_extension(path: str) -> None:
    with pytest.raises(BadOption) as info:
        parse_path(path, defaults=D, presets=NO_PRESETS)
    assert info.value.option == "extension"
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("", "path"),
        ("/", "path"),
        ("w:1/plain/a", "path"),
        ("/w:1", "empty"),
        ("/w:1/", "empty"),
        ("/plain/", "empty"),
        ("/plain", "empty"),
        ("/plain/@png", "empty"),
        ("/w:1/.png", "empty"),
        ("/==", "empty"),
        ("/plain/a@png@jpg", "more than one extension"),
        (f"/{b64('a')}.png.jpg", "more than one extension"),
        ("/aGVsbG8+", "base64"),
        ("/aGVsb", "base64"),
        ("/_w", "base64"),  # decodes to a byte that is not UTF-8
        ("/plain/http://x/%zz", "percent"),
        ("/plain/http://x/%FF", "UTF-8"),
        ("/w%3A1%/plain/a", "percent"),
        ("/w:%C3/plain/a", "UTF-8"),
        ("/fill/300/400/sm/0/aGVsbG8", "basic URL format"),
    ],
)
def test_malformed_paths_are_bad_requests(path: str, words: str) -> None:
    assert words in bad_request(path).public_message


@pytest.mark.parametrize(
    "encoded",
    [
        "rs%3Afill%3A300%3A400/g%3Asm",
        "rs%3afill%3a300%3a400/g%3asm",
        "rs:fill%3A300:400/g%3Asm",
    ],
)
def test_percent_encoded_colons_in_options(encoded: str) -> None:
    assert parse(encoded) == parse("rs:fill:300:400/g:sm")


# ---- presets ------------------------------------------------------------------------------------


def test_default_preset_applies_first() -> None:
    presets = compile_presets({"default": "q:70/rs:fill:100:100"})
    assert parse("", presets=presets) == replace(
        D, quality=70, resizing_type=ResizingType.FILL, width=100, height=100
    )
    assert parse("q:90", presets=presets).quality == 90


def test_presets_expand_in_place() -> None:
    presets = compile_presets({"big": "w:100/h:100", "small": "w:10", "both": "pr:big:small"})
    assert parse("w:1/pr:big", presets=presets) == replace(D, width=100, height=100)
    assert parse("pr:big/w:1", presets=presets) == replace(D, width=1, height=100)
    assert parse("preset:big:small", presets=presets) == replace(D, width=10, height=100)
    assert parse("pr:both", presets=presets) == replace(D, width=10, height=100)
    error = bad_option("pr:huge", presets=presets)
    assert error.option == "pr"
    assert "huge" in error.public_message


def test_only_presets_mode() -> None:
    presets = compile_presets({"default": "q:70", "thumb": "rs:fill:50:50", "webp": "f:webp"})
    result = parse_path(
        "/thumb:webp/plain/local:///a.jpg", defaults=D, presets=presets, only_presets=True
    )
    assert result == ParsedPath(
        replace(
            D,
            quality=70,
            resizing_type=ResizingType.FILL,
            width=50,
            height=50,
            format=ImageFormat.WEBP,
        ),
        "local:///a.jpg",
    )
    encoded = parse_path("/thumb%3Awebp/plain/a", defaults=D, presets=presets, only_presets=True)
    assert encoded.options == result.options
    for path in ("/w:10/plain/a", "/plain/local:///a.jpg"):
        with pytest.raises(BadOption) as info:
            parse_path(path, defaults=D, presets=presets, only_presets=True)
        assert info.value.option == "preset"


@pytest.mark.parametrize(
    ("presets", "words"),
    [
        ({"": "w:1"}, "name"),
        ({"a:b": "w:1"}, "name"),
        ({" a": "w:1"}, "name"),
        ({"a": ""}, "not an option"),
        ({"a": "w:1/"}, "not an option"),
        ({"a": "w:1/fill"}, "not an option"),
        ({"a": "w:x"}, "'w'"),
        ({"a": "wm:1"}, "not supported"),
        ({"a": "pr:nope"}, "nope"),
        ({"a": "pr:a"}, "a > a"),
        ({"a": "pr:b", "b": "w:1/pr:a"}, "include themselves"),
        ({"a": "msr:10"}, "disabled"),
    ],
)
def test_bad_presets_stop_the_start(presets: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match="preset") as info:
        compile_presets(presets)
    assert words in str(info.value)
    assert repr(next(iter(presets))) in str(info.value)


def test_security_options_in_presets_follow_the_setting() -> None:
    presets = compile_presets({"big": "msr:100"}, allow_security_options=True)
    assert parse("pr:big", presets=presets, allow_security_options=True).security == SEC(
        max_src_resolution=100.0
    )
    assert bad_option("pr:big", presets=presets).option == "msr"


def test_presets_container() -> None:
    presets = compile_presets({"a": " w:1 "})
    assert "a" in presets
    assert "b" not in presets
    assert "a" not in NO_PRESETS


# ---- properties --------------------------------------------------------------------------------

PATH_ALPHABET = st.sampled_from(
    list(":/%@.=_-+ ") + list("0123456789abcdefAF") + ["plain", "rs", "fill", "pr", "w", "%3A"]
)
OPTION_NAMES = [name for names, _, _ in OPTION_CASES for name in names] + ["wm", "pr", "x"]


@st.composite
def option_like_paths(draw: st.DrawFn) -> str:
    segments = draw(
        st.lists(
            st.tuples(
                st.sampled_from(OPTION_NAMES),
                st.lists(st.lists(PATH_ALPHABET, max_size=6).map("".join), max_size=9),
            ),
            max_size=6,
        )
    )
    options = "/".join(":".join((name, *args)) for name, args in segments)
    tail = draw(st.lists(PATH_ALPHABET, max_size=12).map("".join))
    return f"/{options}/{tail}"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text().map(lambda s: "/" + s), option_like_paths()))
def test_random_paths_raise_only_client_errors(path: str) -> None:
    presets = compile_presets({"default": "q:70", "thumb": "rs:fill:10:10"})
    for only_presets in (False, True):
        try:
            result = parse_path(
                path,
                defaults=D,
                presets=presets,
                only_presets=only_presets,
                allow_security_options=only_presets,
            )
        except ImgfleetError as e:
            assert 400 <= e.status < 500
            assert e.public_message
        else:
            assert isinstance(result.options, ProcessingOptions)
            assert result.source_url


# Options that each set a different field, so their order cannot matter.
INDEPENDENT: dict[str, st.SearchStrategy[str]] = {
    "w": st.integers(0, 5000).map(str),
    "h": st.integers(0, 5000).map(str),
    "mw": st.integers(0, 100).map(str),
    "rt": st.sampled_from([t.value for t in ResizingType]),
    "dpr": st.sampled_from(["1", "1.5", "2", "3.0"]),
    "z": st.sampled_from(["1", "0.5:2"]),
    "el": st.sampled_from(["0", "1", "t", "false"]),
    "ex": st.sampled_from(["1", "0:so", "1:fp:0.5:0.5"]),
    "g": st.sampled_from(["sm", "ce", "no:5:5", "fp:0.2:0.8"]),
    "c": st.sampled_from(["100:100", "0.5:0.5:sm", "0:0"]),
    "t": st.sampled_from(["10", "5:fff:1:1"]),
    "pd": st.sampled_from(["1", "1:2:3:4"]),
    "rot": st.sampled_from(["0", "90", "-90", "540"]),
    "bg": st.sampled_from(["fff", "1:2:3"]),
    "bl": st.floats(0, 100).map(lambda f: f"{f:.3f}"),
    "sh": st.floats(0, 10).map(lambda f: f"{f:.3f}"),
    "pix": st.integers(0, 64).map(str),
    "q": st.integers(0, 100).map(str),
    "fq": st.sampled_from(["webp:50", "jpeg:60:avif:40"]),
    "mb": st.integers(0, 10**6).map(str),
    "f": st.sampled_from(["png", "jpg", "webp"]),
    "skp": st.sampled_from(["svg", "gif:png"]),
    "cb": st.text("abcXYZ019", max_size=5),
    "exp": st.integers(0, 2**40).map(str),
    "fn": st.sampled_from(["a.jpg", "photo"]),
    "att": st.sampled_from(["0", "1"]),
    "sm": st.sampled_from(["0", "1"]),
    "msr": st.sampled_from(["10", "0.5"]),
    "maf": st.integers(1, 500).map(str),
}


@st.composite
def shuffled_independent_options(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    names = draw(st.lists(st.sampled_from(sorted(INDEPENDENT)), unique=True, min_size=1))
    options = [f"{name}:{draw(INDEPENDENT[name])}" for name in names]
    return options, draw(st.permutations(options))


@settings(max_examples=200, deadline=None)
@given(shuffled_independent_options())
def test_order_of_independent_options_does_not_matter(case: tuple[list[str], list[str]]) -> None:
    options, shuffled = case
    first = parse("/".join(options), allow_security_options=True)
    assert parse("/".join(shuffled), allow_security_options=True) == first
