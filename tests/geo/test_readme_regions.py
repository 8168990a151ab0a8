"""The README's Regions example works as written: run by bash in a folder laid out like the
checkout, it brings up three regions, uploads with write concern `all`, and takes them down."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests import readme
from tests.haproxy import require_haproxy
from tests.nats_server import require_nats_server

REPO = readme.REPO


def test_the_readme_regions_example_runs_three_regions(tmp_path: Path) -> None:
    require_nats_server()
    require_haproxy()
    for name in (".venv", "samples"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {name: value for name, value in os.environ.items() if not name.startswith("IMGFLEET_")}
    env["IMGFLEET_RENDER__ISOLATION"] = "threads"  # three regions on the test machine's cores
    try:
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", readme.example("### Regions")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        if (tmp_path / ".imgfleet-geo" / "control.sock").exists():  # the example failed midway
            subprocess.run(
                [str(REPO / ".venv/bin/imgfleet"), "geo", "down"], cwd=tmp_path, timeout=60
            )
    assert ran.returncode == 0, ran.stderr
    upload, _ = json.JSONDecoder().raw_decode(ran.stdout, ran.stdout.index('{"id"'))
    replication = upload["replication"]
    assert replication["met"] and replication["needed"] == 3
    assert replication["regions"][0] == "eu" and sorted(replication["regions"]) == [
        "ap",
        "eu",
        "us",
    ]
    assert "cluster stopped" in ran.stdout
