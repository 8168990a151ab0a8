"""Canonical cache keys: equal renditions get one key whatever the URL's order or spelling.

The key is computed from the parsed options (never the URL text), the source reference, the
output target and the engine version, before the source is fetched, so cache hits cost no
I/O. The target is a concrete format, or `None` for "the source's own format" — both are
deterministic for a given source, so the raw `Accept` header never enters the key.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from enum import Enum
from typing import Any

from imgfleet.core.options import ImageFormat, ProcessingOptions

# Options that change only response headers or validity, never the pixels.
_RESPONSE_ONLY = {"expires": None, "filename": None, "return_attachment": False}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """`value` as JSON-ready data; dataclasses become dicts, without `asdict`'s deep copy."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def canonical_options(
    options: ProcessingOptions, target: ImageFormat | None, default_quality: int | None
) -> ProcessingOptions:
    """`options` reduced to what changes the pixels, with quality resolved when possible."""
    changes: dict[str, Any] = dict(_RESPONSE_ONLY, format=target)
    if target is not None and default_quality is not None:
        changes.update(quality=options.quality_for(target, default_quality), format_quality=())
    return dataclasses.replace(options, **changes)


def render_key(
    options: ProcessingOptions,
    source_url: str,
    target: ImageFormat | None,
    engine_version: str,
    default_quality: int | None = None,
) -> str:
    """Hex SHA-256 naming one rendition; `default_quality` is the target's configured default."""
    canonical = canonical_options(options, target, default_quality)
    document = {
        "v": engine_version,
        "src": source_url,
        "opt": _plain(canonical),
    }
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
