"""Assets, keys and their events as JSON-ready dicts and bytes: the outbox's rows and the
bus's messages. `decode_*` refuses anything `encode_*` did not make, with ValueError."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.assets import Asset, AssetEvent, Event, EventType, KeyEvent
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


def key_to_dict(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "scopes": sorted(scope.value for scope in key.scopes),
        "secret_sha256": key.secret_sha256,
        "created": key.created,
        "revoked": key.revoked,
    }


def key_from_dict(data: dict[str, Any]) -> ApiKey:
    try:
        return ApiKey(
            id=str(data["id"]),
            tenant=str(data["tenant"]),
            scopes=frozenset(Scope(scope) for scope in data["scopes"]),
            secret_sha256=str(data["secret_sha256"]),
            created=float(data["created"]),
            revoked=None if data["revoked"] is None else float(data["revoked"]),
        )
    except (KeyError, TypeError, OverflowError) as error:
        raise ValueError(f"not a key record: {error!r}") from None


def encode_event(event: Event) -> bytes:
    body: dict[str, Any] = {"id": event.id, "type": event.type.value}
    if isinstance(event, AssetEvent):
        body["asset"] = asset_to_dict(event.asset)
    else:
        body |= {"key": key_to_dict(event.key), "hlc": str(event.hlc)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_event(data: bytes) -> Event:
    try:
        body = json.loads(data)
        kind = EventType(body["type"])
        if kind.subject == "keys":
            return KeyEvent(
                str(body["id"]), kind, key_from_dict(body["key"]), Hlc.parse(body["hlc"])
            )
        return AssetEvent(str(body["id"]), kind, asset_from_dict(body["asset"]))
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"not an event: {error!r}") from None
