"""Parse an imgproxy-style URL path into `ProcessingOptions` and a source URL.

`path` is everything after the signature segment, starting with "/":

    /<name:arg:...>/<name:arg:...>/.../plain/<percent-encoded url>[@ext]
    /<name:arg:...>/.../<url-safe base64 url, may be split by "/">[.ext]

Options apply in URL order onto the defaults (after the `default` preset), so later ones
win; `pr:` expands presets in place. Each row of `_ROWS` gives an option's names (full and
short), its small function and, for the URL reference (`core.option_reference`, published
as docs/url.md), its argument shape, meaning and default. Bad input raises `BadOption`
(names the option, the expected shape and what was received) or `BadRequest` (a malformed
path or source).

Decisions (docs/url.md quotes the paragraphs below):

Where imgproxy is loose we are strict, so equal requests get equal options: booleans other
than 1/t/T/true/True/TRUE/0/f/F/false/False/FALSE are errors (imgproxy reads them as false);
numbers are plain ASCII decimals within bounds (no NaN, inf, "1_000"); an option with a
structured value (g, c, t, ex, exar) replaces the whole value, so omitted offsets are 0 and an
omitted crop gravity means "use g"; zero or empty turns q, fq, mb, exp, cb, fn, c, pd, bg, bl,
sh, pix off and is stored as the unset value. Empty arguments of rs, s, pd and fl keep the
current value, as in imgproxy.

imgproxy's basic URL format (`/<type>/<width>/<height>/...`) is not supported; `pr` may not
include itself; presets are checked when settings load, so a bad one stops the start.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import unquote

from imgfleet.core.errors import BadOption, BadRequest
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

Args = tuple[str, ...]
RawOption = tuple[str, Args]  # (name as written, arguments)
_T = TypeVar("_T", ProcessingOptions, SecurityOverrides)
_Apply = Callable[[ProcessingOptions, Args], ProcessingOptions]

MAX_INT = 2**31 - 1  # sizes, offsets, counts
MAX_BIG = 2**53  # byte counts and unix seconds
_INT = re.compile(r"[+-]?[0-9]{1,20}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?")
_HEX_COLOR = re.compile(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = frozenset({"1", "t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"0", "f", "F", "false", "False", "FALSE"})
_FORMAT_NAMES = {f.value: f for f in ImageFormat} | {
    "jpg": ImageFormat.JPEG,
    "tif": ImageFormat.TIFF,
}
_SAVABLE = "one of " + ", ".join(sorted(n for n, f in _FORMAT_NAMES.items() if f.can_save))
_ALL_GRAVITIES = frozenset(GravityType)
_EXTEND_GRAVITIES = _ALL_GRAVITIES - {GravityType.SMART}


@dataclass(frozen=True, slots=True)
class ParsedPath:
    options: ProcessingOptions
    source_url: str  # decoded: "local:///a/b.jpg", "https://example.com/x.jpg?q=1", "s3://b/k"


@dataclass(frozen=True, slots=True)
class Presets:
    """Named option lists, validated by `compile_presets`; `Presets()` is none."""

    options: Mapping[str, tuple[RawOption, ...]] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.options


class _ArgError(Exception):
    """One argument is wrong; `_apply_one` turns it into a `BadOption` naming the option."""

    def __init__(self, expected: str, received: str) -> None:
        super().__init__(expected, received)
        self.expected, self.received = expected, received


# ---- argument parsers: (text, what) -> value, raising _ArgError ----------------------------


def _int(text: str, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    if _INT.fullmatch(text) and lo <= int(text) <= hi:
        return int(text)
    raise _ArgError(f"{what} as an integer {lo}..{hi}", text)


def _float(
    text: str, what: str, lo: float = 0.0, hi: float = MAX_INT, *, above: bool = False
) -> float:
    value = float(text) + 0.0 if _FLOAT.fullmatch(text) else float("nan")  # + 0.0: no -0.0
    if (value > lo if above else value >= lo) and value <= hi:
        return value
    raise _ArgError(f"{what} as a number {'>' if above else '>='} {lo:g} and <= {hi:.10g}", text)


def _bool(text: str, what: str) -> bool:
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _ArgError(f"{what} as a boolean (1/t/true or 0/f/false)", text)


def _color(text: str, what: str) -> Color:
    if not _HEX_COLOR.fullmatch(text):
        raise _ArgError(f"{what} as a hex color RRGGBB or RGB", text)
    step = len(text) // 3
    r, g, b = (int(text[i * step : (i + 1) * step] * (3 - step), 16) for i in range(3))
    return Color(r, g, b)


def _format(text: str, what: str, *, savable: bool = True) -> ImageFormat:
    fmt = _FORMAT_NAMES.get(text.lower())
    if fmt is None or (savable and not fmt.can_save):
        raise _ArgError(f"{what}: {_SAVABLE}" if savable else f"{what}: a known format", text)
    return fmt


def _gravity(args: Args, what: str, allowed: frozenset[GravityType]) -> Gravity:
    names = sorted(g.value for g in allowed)
    if args[0] not in names:
        raise _ArgError(f"{what} type, one of {', '.join(names)}", args[0])
    kind = GravityType(args[0])
    if kind is GravityType.SMART and len(args) > 1:
        raise _ArgError(f"{what} 'sm' without offsets", ":".join(args))
    if kind is GravityType.FOCUS_POINT:
        if len(args) != 3:
            raise _ArgError(f"{what} as fp:%x:%y", ":".join(args))
        return Gravity(kind, _float(args[1], f"{what} x", 0, 1), _float(args[2], f"{what} y", 0, 1))
    # callers' argument limits keep a compass gravity to type:x:y
    x, y = (_float(a, f"{what} offset", -MAX_INT) for a in (*args[1:], "0", "0")[:2])
    return Gravity(kind, x, y)


def _b64decode(text: str) -> str | None:
    """URL-safe base64 (padding optional) of UTF-8 text, or None when it is not that."""
    text = text.rstrip("=")
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError:  # not UTF-8
        return None


# ---- option functions: (options, args) -> options --------------------------------------------


def _set(obj: _T, name: str, value: object) -> _T:
    changes: dict[str, Any] = {name: value}
    return replace(obj, **changes)


def _field(name: str, parse: Callable[[str, str], object]) -> _Apply:
    return lambda po, a: _set(po, name, parse(a[0], name))


def _security(name: str, parse: Callable[[str, str], object]) -> _Apply:
    return lambda po, a: replace(po, security=_set(po.security, name, parse(a[0], name)))


def _resizing_type(text: str, what: str) -> ResizingType:
    if text not in {t.value for t in ResizingType}:
        raise _ArgError(f"{what}, one of {', '.join(t.value for t in ResizingType)}", text)
    return ResizingType(text)


def _extend(name: str) -> _Apply:
    def apply(po: ProcessingOptions, a: Args) -> ProcessingOptions:
        gravity = _gravity(a[1:], "gravity", _EXTEND_GRAVITIES) if len(a) > 1 else Gravity()
        return _set(po, name, Extend(_bool(a[0], name), gravity))

    return apply


def _size(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    """`s:%width:%height:%enlarge:%extend:...`; an empty or missing argument keeps its value."""
    for i, name in enumerate(("w", "h", "el")):
        if len(a) > i and a[i]:
            po = _OPTIONS[name][1](po, a[i : i + 1])
    return _OPTIONS["ex"][1](po, a[3:]) if len(a) > 3 and a[3] else po


def _resize(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    if a[0]:
        po = replace(po, resizing_type=_resizing_type(a[0], "resizing_type"))
    return _size(po, a[1:])


def _zoom(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    x = _float(a[0], "zoom", above=True)
    return replace(po, zoom_x=x, zoom_y=_float(a[1], "zoom y", above=True) if len(a) > 1 else x)


def _crop(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    width = _float(a[0], "crop width")
    height = _float(a[1], "crop height") if len(a) > 1 else 0.0
    gravity = _gravity(a[2:], "crop gravity", _ALL_GRAVITIES) if len(a) > 2 else None
    return replace(po, crop=Crop(width, height, gravity) if width or height else None)


def _trim(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    if not a[0]:
        return replace(po, trim=None)
    a = (*a, "", "", "")
    color = _color(a[1], "trim color") if a[1] else None
    flags = [_bool(f, "equal flag") if f else False for f in a[2:4]]
    return replace(po, trim=Trim(_float(a[0], "trim threshold"), color, *flags))


def _padding(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    if not any(a):
        raise _ArgError("at least one padding side as pd:%top:%right:%bottom:%left", ":".join(a))
    a = (*a, "", "", "")
    top = _int(a[0], "top padding") if a[0] else (po.padding.top if po.padding else 0)
    right = _int(a[1], "right padding") if a[1] else top
    bottom = _int(a[2], "bottom padding") if a[2] else top
    left = _int(a[3], "left padding") if a[3] else right
    return replace(
        po, padding=Padding(top, right, bottom, left) if top or right or bottom or left else None
    )


def _rotate(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    angle = _int(a[0], "angle", -MAX_INT)
    if angle % 90:
        raise _ArgError("angle as a multiple of 90", a[0])
    return replace(po, rotate=angle % 360)


def _flip(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    h = _bool(a[0], "horizontal") if a[0] else po.flip_horizontal
    v = _bool(a[1], "vertical") if len(a) > 1 and a[1] else po.flip_vertical
    return replace(po, flip_horizontal=h, flip_vertical=v)


def _background(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    if len(a) == 3:
        return replace(po, background=Color(*(_int(c, "channel", 0, 255) for c in a)))
    if len(a) == 2:
        raise _ArgError("bg:%R:%G:%B or bg:%hex_color", ":".join(a))
    return replace(po, background=_color(a[0], "background") if a[0] else None)


def _quality(text: str, what: str) -> int | None:
    return _int(text, what, 0, 100) or None


def _format_quality(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    if len(a) % 2:
        raise _ArgError("pairs fq:%format:%quality:...", ":".join(a))
    table = dict(po.format_quality)
    for fmt_text, q_text in zip(a[::2], a[1::2], strict=True):
        fmt, quality = _format(fmt_text, "format"), _quality(q_text, "quality")
        if quality is None:
            table.pop(fmt, None)
        else:
            table[fmt] = quality
    return replace(po, format_quality=tuple(sorted(table.items())))


def _skip_processing(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    formats = {_format(f, "format", savable=False) for f in a}
    return replace(po, skip_processing=po.skip_processing | formats)


def _optional_text(text: str, what: str) -> str | None:
    return text or None


def _filename(po: ProcessingOptions, a: Args) -> ProcessingOptions:
    name: str | None = a[0]
    if len(a) > 1 and a[1] and _bool(a[1], "encoded flag"):
        name = _b64decode(a[0])
        if name is None:
            raise _ArgError("filename as URL-safe base64 of UTF-8 text", a[0])
    if name and _CONTROL.search(name):
        raise _ArgError("filename without control characters", a[0])
    return replace(po, filename=name or None)


def _positive(text: str, what: str) -> float:
    return _float(text, what, above=True)


def _bytes(text: str, what: str) -> int:
    return _int(text, what, 0, MAX_BIG)


def _frames(text: str, what: str) -> int:
    return _int(text, what, 1)


def _optional_bytes(text: str, what: str) -> int | None:
    return _bytes(text, what) or None


class Availability(StrEnum):
    ALWAYS = "always"
    IF_ALLOWED = "if allowed"  # security overrides: settings must allow them
    UNSUPPORTED = "unsupported"  # recognised, then refused


@dataclass(frozen=True, slots=True)
class OptionDoc:
    """One URL option as the reference (`core.option_reference`) shows it."""

    names: tuple[str, ...]  # the full name first, then the short ones
    args: str  # what follows "name:"; " | " separates alternative forms
    meaning: str  # one line
    default: str  # "" when there is nothing to say
    availability: Availability


# names (full first), most arguments, function, then for the docs: arguments, meaning, default
_Row = tuple[str, int, _Apply, str, str, str]
_Doc = tuple[str, str, str, str]  # an option `_apply_one` handles itself: names, docs


def _index(rows: list[_Row]) -> dict[str, tuple[int, _Apply]]:
    """Option names (full and short, space-separated) -> (maximum argument count, function)."""
    return {name: (n, apply) for names, n, apply, *_ in rows for name in names.split()}


_COMPASS = ", ".join(sorted(g.value for g in _EXTEND_GRAVITIES - {GravityType.FOCUS_POINT}))
# fmt: off
_ROWS: list[_Row] = [
    ("resize rs", 8, _resize, "%type:%width:%height:%enlarge:%extend:%gravity:%x:%y",
        "rt, w, h, el and ex in one; an empty or missing argument keeps its value.", "fit:0:0:0:0"),
    ("size s", 7, _size, "%width:%height:%enlarge:%extend:%gravity:%x:%y",
        "rs without the type.", "0:0:0:0"),
    ("resizing_type rt", 1, _field("resizing_type", _resizing_type), "%type",
        f"How width and height apply: {', '.join(ResizingType)}.", "fit"),
    ("width w", 1, _field("width", _int), "%width",
        "Width of the result in pixels; 0 follows the height and the aspect ratio.", "0"),
    ("height h", 1, _field("height", _int), "%height",
        "Height of the result in pixels; 0 follows the width and the aspect ratio.", "0"),
    ("min-width min_width mw", 1, _field("min_width", _int), "%width",
        "Least width of the resized image, scaling up when needed; 0 is none.", "0"),
    ("min-height min_height mh", 1, _field("min_height", _int), "%height",
        "Least height of the resized image, scaling up when needed; 0 is none.", "0"),
    ("zoom z", 2, _zoom, "%zoom | %zoom_x:%zoom_y",
        "Multiplies the result size; one factor sets both.", "1"),
    ("dpr", 1, _field("dpr", _positive), "%dpr",
        "Device pixel ratio: multiplies the requested size and the padding.", "1"),
    ("enlarge el", 1, _field("enlarge", _bool), "%enlarge",
        "Allow a result larger than the source.", "false"),
    ("extend ex", 4, _extend("extend"), "%extend:%gravity:%x:%y",
        "Pad a smaller result to the requested size, placed by the gravity.", "false:ce"),
    ("extend_aspect_ratio extend_ar exar", 4, _extend("extend_aspect_ratio"),
        "%extend:%gravity:%x:%y",
        "Pad the result to the requested aspect ratio, placed by the gravity.", "false:ce"),
    ("gravity g", 3, lambda po, a: replace(po, gravity=_gravity(a, "gravity", _ALL_GRAVITIES)),
        "%type:%x:%y | sm | fp:%x:%y",
        f"Where crops are cut: {_COMPASS} plus offsets, sm (smart), fp (focus point).", "ce:0:0"),
    ("crop c", 5, _crop, "%width:%height:%gravity:%x:%y",
        "Crop before resizing: >= 1 pixels, < 1 a fraction, 0 the full side; gravity: g.", "none"),
    ("trim t", 4, _trim, "%threshold:%color:%equal_hor:%equal_ver",
        "Cut borders of one color (default: the top-left pixel's).", "none"),
    ("padding pd", 4, _padding, "%top:%right:%bottom:%left",
        "Add borders filled with bg; missing sides copy their opposite (as CSS).", "none"),
    ("auto_rotate ar", 1, _field("auto_rotate", _bool), "%auto_rotate",
        "Rotate and flip by the EXIF orientation.", "true"),
    ("rotate rot", 1, _rotate, "%angle",
        "Rotate clockwise by a multiple of 90 degrees, after auto_rotate.", "0"),
    ("flip fl", 2, _flip, "%horizontal:%vertical",
        "Mirror left-right and/or top-bottom, after rotating.", "false:false"),
    ("background bg", 3, _background, "%R:%G:%B | %hex_color",
        "Fill for transparency, extend and padding.", "none: keep alpha"),
    ("blur bl", 1, _field("blur", _float), "%sigma",
        "Gaussian blur.", "0: off"),
    ("sharpen sh", 1, _field("sharpen", _float), "%sigma",
        "Sharpen.", "0: off"),
    ("pixelate pix", 1, _field("pixelate", _int), "%size",
        "Pixelate into square blocks of this size.", "0: off"),
    ("strip_metadata sm", 1, _field("strip_metadata", _bool), "%strip",
        "Remove EXIF, XMP and IPTC metadata.", "`formats.strip_metadata`"),
    ("keep_copyright kcr", 1, _field("keep_copyright", _bool), "%keep",
        "When stripping, keep the copyright and artist EXIF fields.", "`formats.keep_copyright`"),
    ("strip_color_profile scp", 1, _field("strip_color_profile", _bool), "%strip",
        "Convert to sRGB and drop the ICC profile.", "`formats.strip_color_profile`"),
    ("enforce_thumbnail eth", 1, _field("enforce_thumbnail", _bool), "%enforce",
        "Accepted for compatibility; has no effect yet.", "false"),
    ("quality q", 1, _field("quality", _quality), "%quality",
        "Quality 1..100 of lossy formats, over fq.", "0: `formats.quality` or per format"),
    ("format_quality fq", 2 * len(ImageFormat), _format_quality,
        "%format:%quality:%format:%quality:...",
        "Quality per output format; quality 0 removes a format.", "none"),
    ("max_bytes mb", 1, _field("max_bytes", _optional_bytes), "%bytes",
        "Lower the quality of lossy formats until the result fits.", "0: off"),
    ("format f ext", 1, _field("format", _format), "%extension",
        f"Output format, {_SAVABLE}; a source's extension wins.", "negotiated"),
    ("skip_processing skp", len(_FORMAT_NAMES), _skip_processing, "%extension:%extension:...",
        "Serve sources in these formats unchanged.", "none"),
    ("raw", 1, _field("raw", _bool), "%raw",
        "Serve the source unchanged, ignoring the other options.", "false"),
    ("cachebuster cb", 1, _field("cachebuster", _optional_text), "%string",
        "Changes only the URL and the cache key.", "empty: none"),
    ("expires exp", 1, _field("expires", _optional_bytes), "%unix_time",
        "Answer 404 after this time; caps the max-age.", "0: none"),
    ("filename fn", 2, _filename, "%filename:%encoded",
        "Content-Disposition file name; %encoded 1: URL-safe base64 of UTF-8.", "none"),
    ("return_attachment att", 1, _field("return_attachment", _bool), "%attachment",
        "Content-Disposition attachment instead of inline.", "false"),
]
_SECURITY_ROWS: list[_Row] = [  # only when settings allow them
    ("max_src_resolution msr", 1, _security("max_src_resolution", _float), "%megapixels",
        "Largest source resolution, frames summed.", "0: `limits.max_src_megapixels`"),
    ("max_src_file_size msfs", 1, _security("max_src_file_size", _bytes), "%bytes",
        "Largest source file.", "0: `sources.max_bytes`"),
    ("max_animation_frames maf", 1, _security("max_animation_frames", _frames), "%frames",
        "Most animation frames.", "`limits.max_frames`"),
    ("max_animation_frame_resolution mafr", 1,
        _security("max_animation_frame_resolution", _float), "%megapixels",
        "Largest resolution of one animation frame.", "0: `limits.max_frame_megapixels`"),
    ("max_result_dimension mrd", 1, _security("max_result_dimension", _int), "%pixels",
        "Largest width or height of the result.", "0: `limits.max_result_dimension`"),
]
_PRESET: _Doc = ("preset pr", "%name:%name:...",
    "Apply presets from `security.presets` here, in order.", "the `default` preset")
_WATERMARK: _Doc = ("watermark wm", "%opacity:%position:%x:%y:%scale",
    "Refused with 400: watermarks are not supported yet.", "")
# fmt: on
_OPTIONS = _index(_ROWS)
_SECURITY_OPTIONS = _index(_SECURITY_ROWS)
_PRESET_NAMES = frozenset(_PRESET[0].split())
_WATERMARK_NAMES = frozenset(_WATERMARK[0].split())


def option_names() -> frozenset[str]:
    """Every option name `parse_path` recognises (the unsupported ones included)."""
    return frozenset(_OPTIONS) | frozenset(_SECURITY_OPTIONS) | _PRESET_NAMES | _WATERMARK_NAMES


def option_docs() -> tuple[OptionDoc, ...]:
    """Every option, in table order, for the reference."""

    def doc(names: str, args: str, meaning: str, default: str, a: Availability) -> OptionDoc:
        return OptionDoc(tuple(names.split()), args, meaning, default, a)

    return (
        *(doc(r[0], *r[3:], Availability.ALWAYS) for r in _ROWS),
        doc(*_PRESET, Availability.ALWAYS),
        *(doc(r[0], *r[3:], Availability.IF_ALLOWED) for r in _SECURITY_ROWS),
        doc(*_WATERMARK, Availability.UNSUPPORTED),
    )


# ---- applying options and presets -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    presets: Presets
    allow_security_options: bool


def _apply_one(
    po: ProcessingOptions, name: str, args: Args, ctx: _Context, used: Args
) -> ProcessingOptions:
    received = ":".join(args)
    if name in _PRESET_NAMES:
        for preset in args:
            po = _apply_preset(po, name, preset, ctx, used)
        return po
    if name in _WATERMARK_NAMES:
        raise BadOption(name, "no watermark (watermarks are not supported yet)", received)
    if name in _SECURITY_OPTIONS and not ctx.allow_security_options:
        raise BadOption(name, "no security override (they are disabled by settings)", received)
    entry = _OPTIONS.get(name) or _SECURITY_OPTIONS.get(name)
    if entry is None:
        raise BadOption(name, "a supported option name", f"{name}:{received}")
    max_args, apply = entry
    if len(args) > max_args:
        raise BadOption(name, f"at most {max_args} argument{'s' * (max_args > 1)}", received)
    try:
        return apply(po, args)
    except _ArgError as e:
        raise BadOption(name, e.expected, e.received) from None


def _apply_preset(
    po: ProcessingOptions, name: str, preset: str, ctx: _Context, used: Args
) -> ProcessingOptions:
    options = ctx.presets.options.get(preset)
    if options is None:
        raise BadOption(name, "the name of a configured preset", preset)
    if preset in used:
        raise BadOption(name, "presets that do not include themselves", " > ".join((*used, preset)))
    for option_name, args in options:
        po = _apply_one(po, option_name, args, ctx, (*used, preset))
    return po


def _split_option(segment: str) -> RawOption:
    name, *args = segment.split(":")
    return name, tuple(args)


def compile_presets(presets: Mapping[str, str], *, allow_security_options: bool = False) -> Presets:
    """Check every preset now, so bad settings stop the start (ValueError naming the preset).

    `allow_security_options` must match the one later given to `parse_path`.
    """
    compiled: dict[str, tuple[RawOption, ...]] = {}
    for name, value in presets.items():
        if not name or name.strip() != name or any(c in name for c in ":/"):
            raise ValueError(
                f"preset {name!r}: a name must be non-empty without ':', '/' or spaces"
            )
        segments = value.strip().split("/")
        bad = [s for s in segments if ":" not in s]
        if bad:
            raise ValueError(f"preset {name!r}: {bad[0]!r} is not an option (name:arg:...)")
        compiled[name] = tuple(_split_option(s) for s in segments)
    result = Presets(MappingProxyType(compiled))
    ctx = _Context(result, allow_security_options)
    for name in compiled:
        try:
            _apply_preset(ProcessingOptions(), "preset", name, ctx, ())
        except BadOption as e:
            raise ValueError(f"preset {name!r}: {e.public_message}") from e
    return result


# ---- the path ---------------------------------------------------------------------------------


def _unquote(text: str, what: str) -> str:
    if _BAD_PERCENT.search(text):
        raise BadRequest(f"malformed percent-encoding in the {what}: {text!r}")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"percent-encoding in the {what} is not UTF-8: {text!r}") from None


def _split_options(parts: list[str]) -> tuple[list[RawOption], list[str]]:
    options: list[RawOption] = []
    for i, part in enumerate(parts):
        segment = _unquote(part, "options")
        if ":" not in segment:
            return options, parts[i:]
        options.append(_split_option(segment))
    return options, []


def _decode_source(parts: Iterable[str]) -> tuple[str, str]:
    """The source URL and the extension ("" when absent) from the source segments."""
    parts = list(parts)
    plain = parts[:1] == ["plain"]
    encoded = "/".join(parts[1:]) if plain else _unquote("".join(parts), "source")
    pieces = encoded.split("@" if plain else ".")
    if len(pieces) > 2:
        raise BadRequest(f"the source names more than one extension: {encoded!r}")
    ext = pieces[1] if len(pieces) > 1 else ""
    url = _unquote(pieces[0], "source URL") if plain else _b64decode(pieces[0])
    if url is None:
        raise BadRequest(f"the source is not URL-safe base64 of a UTF-8 URL: {pieces[0]!r}")
    if not url:
        raise BadRequest("the source URL is empty")
    return url, ext


def parse_path(
    path: str,
    *,
    defaults: ProcessingOptions,
    presets: Presets,
    only_presets: bool = False,
    allow_security_options: bool = False,
) -> ParsedPath:
    """Options and source of `path` (after the signature, query string removed)."""
    if not path.startswith("/") or path == "/":
        raise BadRequest(f"the path must be /<options>/<source>, received {path!r}")
    parts = path[1:].split("/")
    ctx = _Context(presets, allow_security_options)
    po = _apply_preset(defaults, "preset", "default", ctx, ()) if "default" in presets else defaults
    if only_presets:
        for preset in _unquote(parts[0], "presets").split(":"):
            po = _apply_preset(po, "preset", preset, ctx, ())
        source = parts[1:]
    else:
        if parts[0] in {t.value for t in ResizingType}:
            raise BadRequest("the basic URL format (/<type>/<width>/...) is not supported")
        options, source = _split_options(parts)
        for name, args in options:
            po = _apply_one(po, name, args, ctx, ())
    url, ext = _decode_source(source)
    if ext and not po.raw:
        try:
            po = replace(po, format=_format(ext, "extension"))
        except _ArgError as e:
            raise BadOption("extension", e.expected, e.received) from None
    return ParsedPath(po, url)
