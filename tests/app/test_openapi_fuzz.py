"""Schemathesis over the JSON API: every operation of the served `/openapi.json`, called
in-process with a valid key on a tenant that has assets (and without it, and with a forged
one). Its stateless phases (coverage, fuzzing) run with every check it has on by default: no
500, and every answer one the document describes (status, content type, headers, body), a
valid request taken, an invalid one refused, a wrong method told what the path allows.

The operations' tests are Schemathesis' own, run here as subtests: `schema.parametrize()`
needs the schema at import, and `schemathesis.pytest.from_fixture` sets `Node._nodeid`,
which pytest 9 no longer has. Bounded and derandomized: the same requests on every run,
in seconds.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.result import Err
from schemathesis.pytest.lazy import get_all_tests

from imgfleet.http.asgi import Receive, Scope, Send
from imgfleet.settings import Settings
from tests import imagegen
from tests.app.conftest import AppUnderTest, app_under_test, make_settings

TENANT = "acme"
PathParameters = dict[str, str]

ACCEPTED = ["2xx", 401, 403, 404, 409, 410]  # what a schema-valid request may get
CONFIG = {
    "request-timeout": 10,
    "generation": {
        # Like most HTTP APIs, this one ignores query parameters and headers it does not know.
        "allow-extra-parameters": True,
    },
    "checks": {
        # A valid request may find the asset deleted (410) or changed meanwhile (409).
        "positive_data_acceptance": {"expected-statuses": ACCEPTED},
    },
    "operations": [
        {
            # Any bytes are a valid body to the schema; the service tells images from the rest.
            "include-name": "POST /assets",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 413, 415, 422]}
            },
        },
        {
            # A cursor is opaque: only one the API returned is taken, any other is a 400.
            "include-name": "GET /assets",
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400]}},
        },
    ],
}


async def seed(settings: Settings) -> tuple[str, tuple[str, ...]]:
    """A key and a few assets of one tenant, stored in the app's folder: its bearer and the
    assets' ids."""
    async with app_under_test(settings) as app:
        _, bearer = await app.deps.keys.create(TENANT)
        images = (imagegen.jpeg(40, 30), imagegen.png(20, 20, alpha=True), imagegen.gif())
        ids = [(await app.deps.assets.upload(TENANT, data, None, None)).asset.id for data in images]
    return bearer, tuple(ids)


class Served:
    """The app as Schemathesis serves it. Schemathesis runs an ASGI app in an event loop of
    its own, so the app's dependencies are opened there, by the lifespan, which ends with
    the test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: AppUnderTest | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self.app is not None, "the lifespan opens the app"
            await self.app(scope, receive, send)
            return
        await receive()  # lifespan.startup
        async with app_under_test(self.settings) as self.app:
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def test_every_operation_answers_as_documented(images: Path, subtests: pytest.Subtests) -> None:
    settings = make_settings(images)
    bearer, asset_ids = asyncio.run(seed(settings))
    config = schemathesis.Config.from_dict(
        {**CONFIG, "auth": {"openapi": {"HTTPBearer": {"bearer": bearer}}}}
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", Served(settings), config=config)
    real = st.sampled_from([{"asset_id": asset_id} for asset_id in asset_ids])

    @schema.hook
    def before_generate_path_parameters(
        context: schemathesis.HookContext, strategy: st.SearchStrategy[PathParameters]
    ) -> st.SearchStrategy[PathParameters]:
        """Ids of the tenant's assets too, not only ones that name none."""
        operation = context.operation
        if operation is None or "{asset_id}" not in operation.path:
            return strategy
        return st.one_of(real, strategy)

    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate()

    bounded = hypothesis.settings(
        max_examples=30, deadline=timedelta(seconds=5), derandomize=True, database=None
    )
    tests = []
    for result in get_all_tests(schema=schema, test_func=check, settings=bounded, given_kwargs={}):
        if isinstance(result, Err):
            raise result.err()  # an operation Schemathesis cannot read
        tests.append(result.ok())
    # Deletes last: the other operations find the tenant's assets alive.
    for operation, test in sorted(tests, key=lambda pair: pair[0].method == "delete"):
        with subtests.test(operation.label):
            test()
