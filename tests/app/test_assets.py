"""The asset API over the embedded backends (files and SQLite in the test's folder)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from imgfleet.adapters.bus.memory import InProcessEventBus
from imgfleet.core.api_keys import Scope
from imgfleet.core.assets import AssetEvent, EventType
from tests import imagegen
from tests.app.conftest import AppFactory, AppUnderTest, signed

PHOTO = imagegen.jpeg(400, 300)


@pytest.fixture
async def app(make_app: AppFactory) -> AppUnderTest:
    return await make_app()


@pytest.fixture
async def api(app: AppUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    _, bearer = await app.deps.keys.create("acme")
    async with app.client() as client:
        client.headers["authorization"] = f"Bearer {bearer}"
        yield client


async def upload(
    client: httpx.AsyncClient,
    data: bytes = PHOTO,
    content_type: str = "image/jpeg",
    **headers: str,
) -> httpx.Response:
    headers["content-type"] = content_type
    return await client.post("/v1/assets", content=data, headers=headers)


def renders(app: AppUnderTest) -> float:
    return sum(
        sample.value
        for metric in app.metrics.render_duration.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )


async def test_an_upload_answers_201_with_the_asset_and_the_same_bytes_again_200(
    api: httpx.AsyncClient,
) -> None:
    first = await upload(api)
    assert first.status_code == 201, first.text
    asset = first.json()
    assert asset["width"] == 400 and asset["height"] == 300 and asset["format"] == "jpeg"
    assert asset["bytes"] == len(PHOTO) and len(asset["sha256"]) == 64
    assert asset["home_region"] == "local" and asset["dominant_color"].startswith("#")
    assert asset["placeholder"] and asset["hlc"].endswith("-local")
    assert first.headers["location"] == f"/v1/assets/{asset['id']}"
    again = await upload(api, content_type="application/octet-stream")
    assert again.status_code == 200 and again.json()["id"] == asset["id"]


async def test_a_multipart_upload_is_taken_like_a_raw_one(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/assets", files={"file": ("cat.png", imagegen.png(80, 60))})
    assert answer.status_code == 201, answer.text
    assert answer.json()["format"] == "png"


async def test_an_idempotency_key_replays_the_answer_and_refuses_other_bytes(
    api: httpx.AsyncClient,
) -> None:
    first = await upload(api, **{"idempotency-key": "k1"})
    retry = await upload(api, **{"idempotency-key": "k1"})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    other = await upload(api, imagegen.png(10, 10), **{"idempotency-key": "k1"})
    assert other.status_code == 422 and other.json()["error"] == "idempotency_conflict"


async def test_read_original_edit_and_list(api: httpx.AsyncClient) -> None:
    asset = (await upload(api)).json()
    got = await api.get(f"/v1/assets/{asset['id']}")
    assert got.status_code == 200 and got.json()["sha256"] == asset["sha256"]
    original = await api.get(f"/v1/assets/{asset['id']}/original")
    assert original.content == PHOTO and original.headers["content-type"] == "image/jpeg"
    edited = await api.patch(
        f"/v1/assets/{asset['id']}", json={"tags": ["cat", "cat", "grey"], "metadata": {"a": "1"}}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["tags"] == ["cat", "grey"] and edited.json()["metadata"] == {"a": "1"}
    merged = await api.patch(f"/v1/assets/{asset['id']}", json={"metadata": {"a": None, "b": "2"}})
    assert merged.json()["metadata"] == {"b": "2"} and merged.json()["tags"] == ["cat", "grey"]
    assert merged.json()["hlc"] > edited.json()["hlc"] > asset["hlc"]


async def test_listing_pages_in_a_stable_order_with_an_opaque_cursor(
    api: httpx.AsyncClient,
) -> None:
    ids = [(await upload(api, imagegen.jpeg(20 + n, 20))).json()["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/v1/assets", params=params)).json()
        seen += [asset["id"] for asset in page["assets"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)
    bad = await api.get("/v1/assets", params={"cursor": "nonsense"})
    assert bad.status_code == 400 and "cursor" in bad.json()["message"]


async def test_a_tenant_never_sees_another_tenants_assets(
    app: AppUnderTest, api: httpx.AsyncClient
) -> None:
    asset = (await upload(api)).json()
    _, bearer = await app.deps.keys.create("other")
    headers = {"authorization": f"Bearer {bearer}"}
    assert (await api.get(f"/v1/assets/{asset['id']}", headers=headers)).status_code == 404
    assert (await api.get("/v1/assets", headers=headers)).json()["assets"] == []
    theirs = await upload(api, authorization=f"Bearer {bearer}")
    assert theirs.status_code == 201 and theirs.json()["id"] != asset["id"]


async def test_an_asset_is_a_delivery_source_and_its_renditions_are_stored(
    make_app: AppFactory, app: AppUnderTest, api: httpx.AsyncClient
) -> None:
    asset = (await upload(api)).json()
    url = asset["urls"]["default"]
    first = await api.get(url)
    assert first.status_code == 200 and first.headers["content-type"].startswith("image/")
    assert renders(app) == 1
    assert app.deps.delivery.assets is not None
    await app.deps.delivery.assets.settle()  # stored after the response
    # Another node of the region (another app over the same folder) renders nothing.
    other = await make_app()
    async with other.client() as client:
        again = await client.get(url)
    assert again.status_code == 200 and again.content == first.content
    assert renders(other) == 0


async def test_a_read_with_a_write_s_clock_sees_it_before_the_change_feed_does(
    make_app: AppFactory,
) -> None:
    """Read-your-writes between two nodes of a region: a node whose memory still holds the
    asset's rendition (its change feed has not run) answers a read that carries another
    node's delete clock with 410, not with what it remembers."""
    slow_feed = {"storage": {"feed_interval": 600.0}}
    one, two = await make_app(**slow_feed), await make_app(**slow_feed)
    _, bearer = await one.deps.keys.create("acme")
    auth = {"authorization": f"Bearer {bearer}"}
    async with one.client() as first, two.client() as second:
        asset = (await upload(first, **auth)).json()
        url = asset["urls"]["default"]
        assert (await first.get(url)).status_code == 200  # in node one's memory now
        deleted = await second.delete(f"/v1/assets/{asset['id']}", headers=auth)
        clock = {"imgfleet-hlc": deleted.headers["imgfleet-hlc"]}
        assert (await first.get(url)).status_code == 200  # no clock: its memory, as before
        assert (await first.get(url, headers=clock)).status_code == 410
        edited = await second.patch(f"/v1/assets/{asset['id']}", json={"tags": ["x"]}, headers=auth)
        assert edited.status_code == 410


async def test_a_deleted_assets_urls_answer_410_cached_renditions_included(
    api: httpx.AsyncClient,
) -> None:
    asset = (await upload(api)).json()
    url = asset["urls"]["default"]
    assert (await api.get(url)).status_code == 200
    assert (await api.get(url)).status_code == 200  # now a hit of this node's memory
    assert (await api.delete(f"/v1/assets/{asset['id']}")).status_code == 204
    gone = await api.get(url)
    assert gone.status_code == 410, gone.text
    assert (await api.get(f"/v1/assets/{asset['id']}")).status_code == 410
    assert (await api.delete(f"/v1/assets/{asset['id']}")).status_code == 410
    # The same bytes may be uploaded again: a new asset.
    again = await upload(api)
    assert again.status_code == 201 and again.json()["id"] != asset["id"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "reason"),
    [
        (b"", "image/jpeg", 400, "bad_request"),
        (b"not an image at all", "application/octet-stream", 415, "unsupported"),
        (PHOTO, "text/plain", 415, "unsupported"),
        (PHOTO, "image/png", 415, "unsupported"),
        (imagegen.truncated(PHOTO), "image/jpeg", 415, "unsupported"),
        (imagegen.png_bomb(), "image/png", 422, "over_limit"),
    ],
    ids=["empty", "not-an-image", "text-type", "type-mismatch", "truncated", "bomb"],
)
async def test_bad_uploads_get_a_precise_4xx(
    api: httpx.AsyncClient, data: bytes, content_type: str, status: int, reason: str
) -> None:
    answer = await upload(api, data, content_type=content_type)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == reason
    assert (await api.get("/v1/assets")).json()["assets"] == []


async def test_an_upload_over_the_size_limit_is_413(make_app: AppFactory) -> None:
    app = await make_app(sources={"max_bytes": 1000})
    _, bearer = await app.deps.keys.create("acme")
    async with app.client() as client:
        answer = await client.post(
            "/v1/assets",
            content=PHOTO,
            headers={"authorization": f"Bearer {bearer}", "content-type": "image/jpeg"},
        )
    assert answer.status_code == 413


async def test_malformed_bodies_and_ids_get_a_precise_4xx(api: httpx.AsyncClient) -> None:
    asset = (await upload(api)).json()
    path = f"/v1/assets/{asset['id']}"
    bad_json = await api.patch(path, content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    unknown_field = await api.patch(path, json={"colour": "red"})
    assert unknown_field.status_code == 400 and "colour" in unknown_field.json()["message"]
    not_a_form = await api.post(
        "/v1/assets", content=b"--x\r\nnope", headers={"content-type": "multipart/form-data"}
    )
    assert not_a_form.status_code == 400
    no_file = await api.post("/v1/assets", files={"other": ("a.jpg", PHOTO)})
    assert no_file.status_code == 400 and "file" in no_file.json()["message"]
    assert (await api.get("/v1/assets/01hzzzzzzzzzzzzzzzzzzzzzzz")).status_code == 404
    assert (await api.get("/v1/assets/not-an-id")).status_code == 404


async def test_a_form_carries_the_image_alone(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/v1/assets", files={"file": ("a.jpg", PHOTO)}, data={"caption": "a cat"}
    )
    assert answer.status_code == 400 and "'caption'" in answer.json()["message"]
    assert (await api.get("/v1/assets")).json()["assets"] == []


async def test_a_wrong_method_is_told_every_method_of_the_path(api: httpx.AsyncClient) -> None:
    asset = (await upload(api)).json()
    for method, path, allow in [
        ("PUT", "/v1/assets", "GET, POST"),
        ("OPTIONS", f"/v1/assets/{asset['id']}", "DELETE, GET, PATCH"),
        ("POST", f"/v1/assets/{asset['id']}/original", "GET"),
    ]:
        answer = await api.request(method, path)
        assert answer.status_code == 405 and answer.json()["error"] == "method_not_allowed"
        assert answer.headers["allow"] == allow, (method, path)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_an_id_with_a_newline_is_the_apis_404(api: httpx.AsyncClient, method: str) -> None:
    kwargs = {"json": {}} if method == "PATCH" else {}
    answer = await api.request(method, "/v1/assets/a%0Ab", **kwargs)
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


async def test_keys_bad_revoked_or_without_the_scope_are_refused(
    app: AppUnderTest, api: httpx.AsyncClient
) -> None:
    async with app.client() as anonymous:
        missing = await anonymous.get("/v1/assets")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith(
            "Bearer"
        )
        forged = await anonymous.get(
            "/v1/assets", headers={"authorization": "Bearer ifk_000000000000_" + "a" * 43}
        )
        assert forged.status_code == 401
    key, bearer = await app.deps.keys.create("acme", {Scope.READ})
    headers = {"authorization": f"Bearer {bearer}"}
    assert (await api.get("/v1/assets", headers=headers)).status_code == 200
    refused = await upload(api, authorization=f"Bearer {bearer}")
    assert refused.status_code == 403 and refused.json()["error"] == "missing_scope"
    await app.deps.keys.revoke(key.id)
    assert (await api.get("/v1/assets", headers=headers)).status_code == 401


async def test_the_openapi_document_describes_the_asset_routes(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    assert {"/assets", "/assets/{asset_id}", "/assets/{asset_id}/original"} <= set(
        document["paths"]
    )
    upload_body = document["paths"]["/assets"]["post"]["requestBody"]["content"]
    assert {"image/*", "multipart/form-data"} <= set(upload_body)
    # A request failing validation is a 400 with an error body, never FastAPI's 422.
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "422" not in document["paths"]["/assets/{asset_id}"]["patch"]["responses"]
    assert json.dumps(document)  # serialisable as it is served


async def test_each_change_is_published_on_the_event_bus_in_order(
    app: AppUnderTest, api: httpx.AsyncClient
) -> None:
    bus = app.deps.relay.bus
    assert isinstance(bus, InProcessEventBus)
    events = bus.subscribe()
    asset = (await upload(api)).json()
    await api.patch(f"/v1/assets/{asset['id']}", json={"tags": ["a"]})
    await api.delete(f"/v1/assets/{asset['id']}")
    received: list[AssetEvent] = []
    while len(received) < 3:  # after the key the fixture made (keys replicate too)
        event = await asyncio.wait_for(anext(events), 5)
        if isinstance(event, AssetEvent):
            received.append(event)
    assert [event.type for event in received] == [
        EventType.STORED,
        EventType.UPDATED,
        EventType.DELETED,
    ]
    assert {event.asset.id for event in received} == {asset["id"]}
    assert received[2].asset.deleted is not None


async def test_an_asset_url_may_be_plain_and_an_unknown_asset_is_404(
    api: httpx.AsyncClient,
) -> None:
    asset = (await upload(api)).json()
    plain = await api.get(signed("rs:fit:100:100", f"asset://{asset['id']}", "png", plain=True))
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
    unknown = await api.get(signed("", "asset://01hzzzzzzzzzzzzzzzzzzzzzzz", "png"))
    assert unknown.status_code == 404
    malformed = await api.get(signed("", "asset://nope", "png"))
    assert malformed.status_code == 404
