"""Routes other regions call (`/v1/internal/...`), left out of the OpenAPI document.

Every call carries the cluster's shared secret as a bearer token (`region.secret`); without a
secret configured, the routes answer 401 to everyone. The secret is compared in constant
time.
"""

from __future__ import annotations

import hmac
import json

from fastapi import APIRouter
from starlette.responses import Response

from imgfleet.core.asset_codec import asset_to_dict
from imgfleet.core.errors import NotFound, Unauthorized
from imgfleet.http.assets import Credentials
from imgfleet.service.assets import AssetService


def internal_router(assets: AssetService, secret: str) -> APIRouter:
    router = APIRouter(prefix="/internal", include_in_schema=False)
    expected = secret.encode()

    def check(credentials: Credentials) -> None:
        given = b"" if credentials is None else credentials.credentials.encode()
        if not expected or not hmac.compare_digest(given, expected):
            raise Unauthorized("internal route: expected the cluster's secret as bearer token")

    @router.get("/originals/{sha256}")
    async def original(sha256: str, credentials: Credentials) -> Response:
        """An original's bytes by hash, verified, for a region that pulls it."""
        check(credentials)
        data = await assets.original_by_hash(sha256)
        if data is None:
            raise NotFound(f"no original {sha256!r:.70} here")
        return Response(data, media_type="application/octet-stream")

    @router.get("/assets/{asset_id}")
    async def record(asset_id: str, credentials: Credentials) -> Response:
        """An asset's record, tombstone or not, for a region that lacks it (pull-through)."""
        check(credentials)
        asset = await assets.record(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r:.40} here")
        return Response(json.dumps(asset_to_dict(asset)), media_type="application/json")

    return router
