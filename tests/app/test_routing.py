"""The shell's router: operations, the JSON API under /v1 and the image route as the
catch-all, each with its own methods, and every error in the one JSON shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from imgfleet.core.errors import Forbidden
from imgfleet.http.app import HttpConfig, create_app
from imgfleet.wiring.dependencies import open_dependencies
from tests.app.conftest import make_settings, signed


class Greeting(BaseModel):
    name: str = Field(min_length=1)
    times: int = Field(1, ge=1, le=3)


def example_routes() -> APIRouter:
    """Stands for the JSON routes of the coming issues (assets, jobs, regions)."""
    router = APIRouter()

    @router.post("/greetings", status_code=201)
    async def create_greeting(body: Greeting) -> dict[str, str]:
        return {"text": " ".join([f"hello {body.name}"] * body.times)}

    @router.get("/forbidden")
    async def refuse() -> None:
        raise Forbidden("not for you")

    @router.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    return router


@pytest.fixture
async def api_client(images: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with open_dependencies(make_settings(images)) as deps:
        config = HttpConfig(ttl=60, error_ttl=10, access_log=False, hot_path=True)
        app = create_app(deps.delivery, deps.metrics, config, [example_routes()])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_a_post_under_v1_reaches_its_route_with_a_validated_body(
    api_client: httpx.AsyncClient,
) -> None:
    r = await api_client.post("/v1/greetings", json={"name": "ada", "times": 2})
    assert r.status_code == 201 and r.json() == {"text": "hello ada hello ada"}
    assert r.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"name": "", "times": 1}, ["body.name", "received ''"]),
        ({"name": "ada", "times": 9}, ["body.times", "received 9"]),
        ({"times": 1}, ["body.name", "Field required"]),
        ("not json", ["body"]),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field_and_what_came(
    api_client: httpx.AsyncClient, body: object, names: list[str]
) -> None:
    if isinstance(body, str):
        r = await api_client.post(
            "/v1/greetings", content=body, headers={"content-type": "application/json"}
        )
    else:
        r = await api_client.post("/v1/greetings", json=body)
    assert r.status_code == 400
    error = r.json()
    assert (error["status"], error["error"]) == (400, "bad_request")
    assert all(name in error["message"] for name in names), error["message"]


async def test_api_errors_keep_the_shape_of_every_error(api_client: httpx.AsyncClient) -> None:
    wrong_method = await api_client.get("/v1/greetings")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    unknown = await api_client.get("/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    refused = await api_client.get("/v1/forbidden")
    assert refused.status_code == 403 and refused.json()["message"] == "not for you"


async def test_a_bug_in_a_route_is_a_logged_500_and_the_server_goes_on(
    api_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "imgfleet.error"):
        r = await api_client.get("/v1/broken", headers={"x-request-id": "bug-1"})
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert r.headers["cache-control"] == "no-store"
    assert [rec.request_id for rec in caplog.records] == ["bug-1"]  # type: ignore[attr-defined]
    assert (await api_client.get("/health")).status_code == 200


async def test_the_openapi_document_describes_the_api_from_its_models(
    api_client: httpx.AsyncClient,
) -> None:
    doc = (await api_client.get("/openapi.json")).json()
    assert doc["servers"] == [{"url": "/v1"}]
    post = doc["paths"]["/greetings"]["post"]
    assert "requestBody" in post and "201" in post["responses"]
    assert doc["components"]["schemas"]["Greeting"]["properties"]["times"]["maximum"] == 3


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_the_image_route_answers_405_to_other_methods(
    api_client: httpx.AsyncClient, method: str
) -> None:
    r = await api_client.request(method, signed("w:10", "local:///photo.jpg", "jpg"))
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


async def test_operations_answer_get_and_head(api_client: httpx.AsyncClient) -> None:
    assert (await api_client.get("/health")).text == "ok\n"
    head = await api_client.head("/health")
    assert head.status_code == 200 and head.content == b""
    assert (await api_client.get("/ready")).status_code == 503  # no lifespan startup ran
    metrics = await api_client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'imgfleet_requests_total{route="health",status="200"} 2.0' in metrics.text
