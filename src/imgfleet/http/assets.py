"""`/v1/assets`: the asset API's routes. Each turns a request into one service call.

An upload's body is the image itself (any `image/*` or `application/octet-stream`
Content-Type) or a multipart form whose one field, `file`, is the image. The body is read
with a cap, so an oversized upload is refused at the limit, not after it has been buffered.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.assets import Asset, Page
from imgfleet.core.errors import BadRequest, TooLarge, UnsupportedMedia
from imgfleet.core.hlc import Hlc
from imgfleet.core.replication import WriteConcern
from imgfleet.core.signing import KeyPair, signed
from imgfleet.http.api import ErrorBody
from imgfleet.http.headers import written_clock
from imgfleet.service.api_keys import KeyService
from imgfleet.service.asset_source import SCHEME
from imgfleet.service.assets import AssetService, Edit

BEARER = HTTPBearer(auto_error=False, description="An API key: `imgfleet keys create`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
MULTIPART_OVERHEAD = 64 * 1024  # bytes a form may add around its file
HLC_HEADER = "imgfleet-hlc"  # a write's clock: send it back for read-your-writes
HLC_PATTERN = r"^[0-9]{13}-[0-9]{6}-[a-z0-9][a-z0-9-]{0,31}$"  # core.hlc's text form
WRITTEN = (
    "The clock of a write of yours (its Imgfleet-Hlc answer, or cookie imgfleet_hlc): the "
    "answer includes that write, wherever it was made"
)
CONCERN = (
    "local: answered once durable in this region; quorum: and in a majority of regions; "
    "all: in every region. Not met within the server's write timeout: 202, stored anyway."
)
Tag = Annotated[str, Field(min_length=1, max_length=128)]
MetaKey = Annotated[str, Field(min_length=1, max_length=64)]


@dataclass(frozen=True, slots=True)
class AssetUrls:
    """How an asset's delivery URLs are made: signed, one per preset, and `default` (no
    options: the settings' defaults, the format negotiated) unless only presets are allowed."""

    key_pairs: tuple[KeyPair, ...]
    signature_size: int
    presets: tuple[str, ...]
    only_presets: bool

    def paths(self, asset_id: str) -> dict[str, str]:
        source = base64.urlsafe_b64encode(f"{SCHEME}{asset_id}".encode()).decode().rstrip("=")
        paths = {}
        if not self.only_presets:
            paths["default"] = signed(f"/{source}", self.key_pairs, self.signature_size)
        for name in self.presets:
            path = f"/preset:{name}/{source}"
            paths[name] = signed(path, self.key_pairs, self.signature_size)
        return paths


class ReplicationBody(BaseModel):
    concern: WriteConcern
    needed: int = Field(description="Regions the concern needs, the home region included")
    regions: list[str] = Field(description="Regions that held the asset: the home one first")
    met: bool


class AssetBody(BaseModel):
    id: str
    sha256: str
    width: int
    height: int
    format: str
    bytes: int
    created: datetime
    home_region: str
    placeholder: str = Field(description="ThumbHash of the image, base64")
    dominant_color: str = Field(description="#rrggbb")
    tags: list[str]
    metadata: dict[str, str]
    hlc: str = Field(description="Hybrid logical clock of the asset's last change")
    urls: dict[str, str] = Field(description="Signed delivery URLs: `default`, and per preset")
    replication: ReplicationBody | None = Field(
        None, description="Of a new upload: the regions that held it when it was answered"
    )


class AssetPage(BaseModel):
    assets: list[AssetBody]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: none")


class AssetEdit(BaseModel):
    """Tags replace the asset's; metadata is merged, a key set to null is removed."""

    model_config = {"extra": "forbid"}

    tags: list[Tag] | None = Field(None, max_length=64)
    metadata: dict[MetaKey, Annotated[str, Field(max_length=1024)] | None] | None = Field(
        None, max_length=64
    )


ERROR_MEANINGS = {
    400: "A malformed parameter or body; the message names it",
    401: "No API key, or an unknown or revoked one",
    403: "The API key lacks the scope the route needs",
    404: "The tenant has no asset by this id",
    409: "A concurrent change of the asset came first; retry",
    410: "The asset was deleted",
    413: "The upload is over the size limit",
    415: "Not an image, or not of the type declared, or a format that is not enabled",
    422: "Over a resolution, frame or memory limit, or an Idempotency-Key reused for other bytes",
    500: "A fault of the server, logged",
    503: "The server is busy (Retry-After) or a store is unavailable",
    504: "Reading the image overran its deadline",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, documented: what each status means, and its body."""
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses
    }


# Any route: a bad parameter, a key refused, a fault, a store failing.
ERRORS = errors(400, 401, 403, 500, 503)
IMAGE = {"type": "string", "format": "binary", "minLength": 1}  # an empty one is a 400
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "image/*": {"schema": IMAGE},
            "application/octet-stream": {"schema": IMAGE},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": IMAGE},
                    "required": ["file"],
                    "additionalProperties": False,
                }
            },
        },
    }
}


def assets_router(assets: AssetService, keys: KeyService, urls: AssetUrls) -> APIRouter:
    router = APIRouter(prefix="/assets", tags=["assets"], responses=ERRORS)

    async def authorized(credentials: Credentials, scope: Scope) -> ApiKey:
        return await keys.authenticate(
            None if credentials is None else credentials.credentials, scope
        )

    def body(asset: Asset, request: Request) -> AssetBody:
        base = str(request.base_url).rstrip("/")
        return AssetBody(
            id=asset.id,
            sha256=asset.sha256,
            width=asset.width,
            height=asset.height,
            format=asset.format.value,
            bytes=asset.bytes,
            created=datetime.fromtimestamp(asset.created, UTC),
            home_region=asset.home_region,
            placeholder=asset.placeholder,
            dominant_color=asset.dominant_color,
            tags=list(asset.tags),
            metadata=dict(asset.metadata),
            hlc=str(asset.hlc),
            urls={name: base + path for name, path in urls.paths(asset.id).items()},
        )

    @router.post(
        "",
        status_code=201,
        response_model=AssetBody,
        openapi_extra=UPLOAD_BODY,
        responses={
            200: {"model": AssetBody, "description": "The tenant had these bytes"},
            202: {
                "model": AssetBody,
                "description": "Stored here, but its write concern was not met in time: "
                "`replication` says where it is; it replicates later",
            },
            # 410: an Idempotency-Key replayed after the asset it made was deleted.
            **errors(410, 413, 415, 422, 504),
        },
    )
    async def upload(
        request: Request,
        response: Response,
        credentials: Credentials,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
        write_concern_header: Annotated[
            WriteConcern | None, Header(alias="write-concern", description=CONCERN)
        ] = None,
        write_concern: Annotated[WriteConcern | None, Query(description=CONCERN)] = None,
    ) -> AssetBody:
        key = await authorized(credentials, Scope.WRITE)
        limit = assets.config.limits.max_src_bytes
        data, content_type = await _read_upload(request, limit)
        concern = write_concern_header or write_concern
        done = await assets.upload(key.tenant, data, content_type, idempotency_key, concern)
        replication = done.replication
        response.status_code = 200 if not done.created else 201
        if replication is not None and not replication.met:
            response.status_code = 202
        response.headers["location"] = f"{request.url.path.rstrip('/')}/{done.asset.id}"
        response.headers[HLC_HEADER] = str(done.asset.hlc)
        answer = body(done.asset, request)
        if replication is not None:
            answer.replication = ReplicationBody(
                concern=replication.concern,
                needed=replication.needed,
                regions=list(replication.regions),
                met=replication.met,
            )
        return answer

    @router.get("", response_model=AssetPage)
    async def listing(
        request: Request,
        credentials: Credentials,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> AssetPage:
        key = await authorized(credentials, Scope.READ)
        page: Page = await assets.page(key.tenant, cursor, limit)
        return AssetPage(
            assets=[body(asset, request) for asset in page.assets], next_cursor=page.next_cursor
        )

    @router.get("/{asset_id}", response_model=AssetBody, responses=errors(404, 410))
    async def read(
        asset_id: str,
        request: Request,
        credentials: Credentials,
        imgfleet_hlc: Annotated[
            # The pattern is documented, and checked after the key: a bad key is a 401 first.
            str | None, Header(json_schema_extra={"pattern": HLC_PATTERN}, description=WRITTEN)
        ] = None,
    ) -> AssetBody:
        key = await authorized(credentials, Scope.READ)
        written = written_clock(request.headers.raw)
        return body(await assets.get(key.tenant, asset_id, _clock(written)), request)

    @router.get(
        "/{asset_id}/original",
        response_class=Response,
        responses={
            200: {"content": {"image/*": {}}, "description": "The bytes uploaded"},
            **errors(404, 410),
        },
    )
    async def original(asset_id: str, credentials: Credentials) -> Response:
        key = await authorized(credentials, Scope.READ)
        asset, data = await assets.original(key.tenant, asset_id)
        return Response(
            data,
            media_type=asset.format.media_type,
            headers={
                "etag": f'"{asset.sha256}"',
                "cache-control": "private, max-age=31536000, immutable",
            },
        )

    @router.patch("/{asset_id}", response_model=AssetBody, responses=errors(404, 409, 410))
    async def edit(
        asset_id: str,
        change: AssetEdit,
        request: Request,
        response: Response,
        credentials: Credentials,
    ) -> AssetBody:
        key = await authorized(credentials, Scope.WRITE)
        tags = None if change.tags is None else tuple(dict.fromkeys(change.tags))
        edited = await assets.edit(key.tenant, asset_id, Edit(tags, change.metadata))
        response.headers[HLC_HEADER] = str(edited.hlc)
        return body(edited, request)

    @router.delete(
        "/{asset_id}",
        status_code=204,
        response_class=Response,
        responses=errors(404, 409, 410),
    )
    async def delete(asset_id: str, credentials: Credentials) -> Response:
        key = await authorized(credentials, Scope.DELETE)
        tombstone = await assets.delete(key.tenant, asset_id)
        return Response(status_code=204, headers={HLC_HEADER: str(tombstone.hlc)})

    return router


def _clock(text: str | None) -> Hlc | None:
    try:
        return None if text is None else Hlc.parse(text)
    except ValueError as error:
        raise BadRequest(f"Imgfleet-Hlc: {error}") from None


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The image of an upload and the type it was declared with (None: a form's file)."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.partition(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _read_form(request, limit + MULTIPART_OVERHEAD), None
    if not (kind.startswith("image/") or kind in ("application/octet-stream", "")):
        raise UnsupportedMedia(
            "Content-Type: expected image/*, application/octet-stream or multipart/form-data; "
            f"received {content_type!r:.60}"
        )
    return await _read_capped(request, limit), content_type or None


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"upload is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"upload is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_form(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"upload is {declared} bytes; the limit is {limit}")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except (MultiPartException, HTTPException) as error:  # Starlette's parse errors
        detail = getattr(error, "detail", None) or getattr(error, "message", error)
        raise BadRequest(f"body: not a valid multipart form: {detail}") from None
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("body: expected the image in a multipart field named 'file'")
        others = sorted(name for name in form if name != "file")
        if others:
            raise BadRequest(
                f"body: expected the field 'file' alone, received {others[0]!r:.40} too"
            )
        data = await file.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise TooLarge(f"upload is over the limit of {limit} bytes")
    return data
