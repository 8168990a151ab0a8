"""Suite-wide rules.

With `IMGFLEET_REQUIRE_SERVICES=1` (CI, and any machine that has every service) no test may
skip: a skip there means a service, a tool or a fixture went missing unnoticed, so every
skipped test is reported as a failure that names it and the reason it gave. An expected
failure (`xfail`) is not a skip and is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from tests.nats_server import NatsServer, running_nats_server

# pytester: tests/unit/test_require_services.py runs pytest in pytest; tests.seaweedfs: the
# `seaweedfs` fixture, an S3 server for the blob store's tests.
pytest_plugins = ("pytester", "tests.seaweedfs")

REQUIRE_SERVICES = "IMGFLEET_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES) == "1"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{report.nodeid} skipped ({_skip_reason(report)}), but {REQUIRE_SERVICES}=1 allows no skip"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and services_required():
        _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module that skips as a whole (`pytest.importorskip`, `allow_module_level`)."""
    report = yield
    if report.skipped and services_required():
        _as_failure(report)
    return report


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server with JetStream for the session, on its own port (never the machine's
    4222). A test that stops it must start it again; most use a region of their own."""
    with running_nats_server(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def embedded_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Settings' default data folder (`storage.data`, relative to the working directory) in a
    temporary folder, so no test writes the embedded backends' files into the checkout."""
    name = "IMGFLEET_STORAGE__DATA"
    before = os.environ.get(name)
    os.environ[name] = str(tmp_path_factory.mktemp("data"))
    yield
    if before is None:
        del os.environ[name]
    else:
        os.environ[name] = before
