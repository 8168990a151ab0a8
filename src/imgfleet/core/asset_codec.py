"""Assets and their events as JSON-ready dicts and bytes: the outbox's rows and the bus's
messages. `decode_*` refuses anything `encode_*` did not make, with ValueError."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

from imgfleet.core.assets import Asset, AssetEvent, EventType
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat


def asset_to_dict(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "tenant": asset.tenant,
        "sha256": asset.sha256,
        "format": asset.format.value,
        "width": asset.width,
        "height": asset.height,
        "bytes": asset.bytes,
        "created": asset.created,
        "home_region": asset.home_region,
        "placeholder": asset.placeholder,
        "dominant_color": asset.dominant_color,
        "hlc": str(asset.hlc),
        "tags": list(asset.tags),
        "metadata": dict(asset.metadata),
        "deleted": asset.deleted,
    }


def asset_from_dict(data: dict[str, Any]) -> Asset:
    try:
        return Asset(
            id=str(data["id"]),
            tenant=str(data["tenant"]),
            sha256=str(data["sha256"]),
            format=ImageFormat(data["format"]),
            width=int(data["width"]),
            height=int(data["height"]),
            bytes=int(data["bytes"]),
            created=float(data["created"]),
            home_region=str(data["home_region"]),
            placeholder=str(data["placeholder"]),
            dominant_color=str(data["dominant_color"]),
            hlc=Hlc.parse(data["hlc"]),
            tags=tuple(str(tag) for tag in data["tags"]),
            metadata=MappingProxyType({str(k): str(v) for k, v in data["metadata"].items()}),
            deleted=None if data["deleted"] is None else float(data["deleted"]),
        )
    except (KeyError, TypeError, AttributeError, OverflowError) as error:  # inf, 1e400
        raise ValueError(f"not an asset record: {error!r}") from None


def encode_event(event: AssetEvent) -> bytes:
    body = {"id": event.id, "type": event.type.value, "asset": asset_to_dict(event.asset)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_event(data: bytes) -> AssetEvent:
    try:
        body = json.loads(data)
        return AssetEvent(str(body["id"]), EventType(body["type"]), asset_from_dict(body["asset"]))
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"not an asset event: {error!r}") from None
