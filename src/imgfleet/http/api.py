"""The JSON API under `/v1`: FastAPI routes whose pydantic models validate request bodies and
generate the OpenAPI document (served at `/openapi.json`).

Every error leaves in the shape the image route uses, `{"status", "error", "message"}`:
imgfleet's errors with their own status, a body or parameter that fails validation as 400
`bad_request` naming the field, what was expected and what came, an unknown path 404 and a
wrong method 405, a bug 500 (logged by the shell).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from imgfleet import __version__
from imgfleet.core.errors import BadRequest, ImgfleetError, MethodNotAllowed, NotFound
from imgfleet.http.asgi import Scope, error_response

PREFIX = "/v1"
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")  # `Allow` names these


class ErrorBody(BaseModel):
    """What every error response carries."""

    status: int
    error: str
    message: str


class JsonApi(FastAPI):
    """FastAPI, with a document that says what a request failing validation gets here: 400
    and an `ErrorBody`, never the 422 `HTTPValidationError` FastAPI adds to every route."""

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()  # made once, then kept: this edit is idempotent
        for operations in document["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", ()):
                    _drop_null(parameter)
                answer = operation["responses"].get("422", {})
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema == {"$ref": "#/components/schemas/HTTPValidationError"}:
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(name, None)
        return document


def _drop_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is one left out: a header or query value is text and cannot be
    null, so `anyOf: [X, null]` (pydantic's `X | None`) is documented as X."""
    schema = parameter.get("schema", {})
    choices = schema.get("anyOf")
    if choices is None:
        return
    kept = [choice for choice in choices if choice != {"type": "null"}]
    if len(kept) == 1:
        del schema["anyOf"]
        schema.update(kept[0])


def api_app(routers: Sequence[APIRouter], error_ttl: int) -> FastAPI:
    """The API's routes, mounted by the shell at `PREFIX`."""
    api = JsonApi(
        title="imgfleet",
        version=__version__,
        servers=[{"url": PREFIX}],
        openapi_url=None,  # the shell serves the document at /openapi.json
        docs_url=None,
        redoc_url=None,
    )
    for router in routers:
        api.include_router(router)

    def respond(error: ImgfleetError) -> Response:
        status, headers, body = error_response(error, error_ttl)
        response = Response(body, status_code=status)
        response.raw_headers = headers
        return response

    async def imgfleet_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ImgfleetError)
        return respond(exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return respond(BadRequest(validation_message(exc)))

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's routing errors (404, 405); the API's own routes raise imgfleet's."""
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error: ImgfleetError = MethodNotAllowed(
                f"method {request.method} is not allowed on {request.url.path}",
                allow=allowed_methods(api, request.scope),
            )
        else:
            error = NotFound(f"no such path: {request.url.path}")
        return respond(error)

    async def bug(request: Request, exc: Exception) -> Response:
        """The answer to a bug; Starlette re-raises it after, for the shell to log."""
        return respond(ImgfleetError(f"internal error: {type(exc).__name__}"))

    api.add_exception_handler(Exception, bug)
    api.add_exception_handler(ImgfleetError, imgfleet_error)
    api.add_exception_handler(RequestValidationError, invalid)
    api.add_exception_handler(HTTPException, http_error)
    return api


def allowed_methods(api: FastAPI, scope: Scope) -> str:
    """`Allow` of a 405: every method some route takes at the request's path. Starlette's
    names those of the first route that matched the path alone, while a path may have
    several (GET and POST `/assets`: a route each)."""
    return ", ".join(
        method
        for method in METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in api.router.routes
        )
    )


def validation_message(exc: RequestValidationError) -> str:
    """The first problem, named by its location: `body.tags[0]: Input should be a valid
    string (received 5)`; several add `(and N more)`."""
    problems = exc.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    message = f"{where}: {first['msg']}"
    if "input" in first and first.get("type") != "missing":
        message += f" (received {first['input']!r:.80})"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return message
