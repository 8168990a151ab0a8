"""`imgfleet geo up|status|env|cut|heal|down`, as a user runs them: two regions on one
machine, their links delayed, cut and healed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import imagegen
from tests.haproxy import require_haproxy
from tests.nats_server import require_nats_server
from tests.serving_process import bearer
from tests.waiting import until_blocking


def geo(folder: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "geo", *args, "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    require_nats_server()
    require_haproxy()
    folder = tmp_path / "geo"
    try:
        yield folder
    finally:
        if (folder / "control.sock").exists():
            subprocess.run(
                [sys.executable, "-m", "imgfleet.cli", "geo", "down", "--dir", str(folder)],
                timeout=60,
                check=False,
            )


def test_geo_up_runs_regions_that_replicate_and_can_be_cut_off(cluster: Path) -> None:
    printed = geo(cluster, "up", "--regions", "2", "--rtt", "40ms")
    assert "2 regions, 40 ms apart, on embedded backends:" in printed
    state = json.loads(geo(cluster, "status", "--json"))
    eu, us = state["regions"]
    assert (eu["name"], us["name"]) == ("eu", "us") and eu["ready"] and us["ready"]
    assert geo(cluster, "url", "us").strip() == us["url"]
    door = state["front_door"]
    assert f"front door (HAProxy): {door['url']}" in printed
    assert {c: {r: v["status"] for r, v in s.items()} for c, s in door["sees"].items()} == {
        "eu": {"eu": "UP", "us": "UP"},
        "us": {"us": "UP", "eu": "UP"},
    }
    assert "clients of us: us UP (0/0), eu UP (0/0)" in geo(cluster, "status")
    served = httpx.get(door["url"] + "/v1/regions", headers={"imgfleet-client-region": "us"})
    assert served.headers["imgfleet-region"] == "us"

    # A key made with eu's settings (`geo env`) uploads there; us delivers the upload.
    exports = geo(cluster, "env", "eu")
    env = dict(os.environ)
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    auth = bearer(env)
    answer = httpx.post(
        f"{eu['url']}/v1/assets",
        content=imagegen.jpeg(200, 100),
        headers={**auth, "content-type": "image/jpeg"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    path = answer.json()["urls"]["default"].removeprefix(eu["url"])
    assert httpx.get(us["url"] + path, timeout=10).status_code == 200

    # Cut off, us cannot reach eu: a new upload's write concern `all` is not met (202);
    # healed, it replicates.
    geo(cluster, "cut", "eu")
    assert json.loads(geo(cluster, "status", "--json"))["regions"][0]["cut"] is True
    cut = httpx.post(
        f"{eu['url']}/v1/assets?write_concern=all",
        content=imagegen.jpeg(210, 100),
        headers={**auth, "content-type": "image/jpeg"},
        timeout=30,
    )
    assert cut.status_code == 202 and cut.json()["replication"]["regions"] == ["eu"]
    geo(cluster, "heal")
    late = cut.json()["urls"]["default"].removeprefix(eu["url"])
    until_blocking(
        lambda: httpx.get(us["url"] + late, timeout=10).status_code == 200,
        "us to deliver what eu took during the cut",
        30,
    )
    assert "cluster stopped" in geo(cluster, "down")
    assert not (cluster / "control.sock").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--regions", "0"], "--regions: expected 1 to 64, received 0"),
        (["--rtt", "fast"], "expected a duration such as 80ms"),
        (["--backends", "services", "--redis", "http://127.0.0.1:6379"], "--redis: expected"),
        (["--backends", "services", "--regions", "16"], "at most 15 regions"),
        (
            ["--backends", "services", "--postgres", "postgresql://nobody@127.0.0.1:1/x"],
            "the cluster did not start: --postgres postgresql://nobody@127.0.0.1:1/x:",
        ),
    ],
)
def test_geo_up_refuses_bad_arguments_with_a_clear_message(
    cluster: Path, arguments: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "geo", "up", *arguments, "--dir", str(cluster)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
