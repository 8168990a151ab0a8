"""The front door's HAProxy configuration and what its statistics say."""

from __future__ import annotations

import subprocess
from pathlib import Path

from imgfleet.geo.front_door import (
    CLIENT_MAP,
    Door,
    client_map,
    haproxy,
    haproxy_config,
    nearest_first,
    servers_seen,
)
from tests.haproxy import require_haproxy

DOOR = Door(
    8000,
    ["eu", "us", "ap"],
    {"eu": "127.0.0.1:8001", "us": "127.0.0.1:8002", "ap": "127.0.0.1:8003"},
    {("us", "eu"): 0.08, ("us", "ap"): 0.15, ("ap", "eu"): 0.2, ("ap", "us"): 0.15},
)


def test_clients_go_to_their_own_region_then_the_nearest_others() -> None:
    assert nearest_first(DOOR, "us") == ["us", "eu", "ap"]
    assert nearest_first(DOOR, "ap") == ["ap", "us", "eu"]
    assert nearest_first(DOOR, "eu") == ["eu", "us", "ap"]  # unknown distances: listed order


def test_the_configuration_routes_by_client_region_and_replays_only_reads(tmp_path: Path) -> None:
    config = haproxy_config(DOOR, tmp_path)
    assert "    bind 127.0.0.1:8000\n" in config
    assert "use_backend near-%[var(txn.client)]" in config
    assert "default_backend near-eu" in config
    assert "http-request disable-l7-retry unless METH_GET" in config
    backend_ap = config.split("backend near-ap\n")[1].split("\n\n")[0]
    servers = [line.split()[1] for line in backend_ap.splitlines() if " server " in line]
    assert servers == ["ap", "us", "eu"]
    assert "balance first" in backend_ap and "option httpchk GET /ready" in backend_ap


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    require_haproxy()
    (tmp_path / CLIENT_MAP).write_text(client_map(DOOR.regions) + "10.1.0.0/16 ap\n")
    (tmp_path / "haproxy.cfg").write_text(haproxy_config(DOOR, tmp_path))
    checked = subprocess.run(
        [str(haproxy()), "-c", "-f", str(tmp_path / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_statistics_say_each_region_s_state_per_client_region() -> None:
    stat = (
        "# pxname,svname,qcur,status,wretr,wredis,chkdown,\n"
        "door,FRONTEND,,OPEN,,,,\n"
        "near-eu,eu,0,UP,0,0,0,\n"
        "near-eu,us,0,DOWN,2,5,1,\n"
        "near-eu,BACKEND,0,UP,2,5,1,\n"
        "near-us,us,0,DOWN,,,,\n"
    )
    up = {"status": "UP", "redispatched": "0", "retries": "0", "downs": "0"}
    assert servers_seen(stat) == {
        "eu": {
            "eu": up,
            "us": {"status": "DOWN", "redispatched": "5", "retries": "2", "downs": "1"},
        },
        "us": {"us": {"status": "DOWN", "redispatched": "0", "retries": "0", "downs": "0"}},
    }
