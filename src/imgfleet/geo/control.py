"""`imgfleet geo up|status|down|cut|heal`: start a local cluster's supervisor, talk to it,
and read every region's `/v1/regions`."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from imgfleet.geo.cluster import READY_SECONDS, STATE, Plan
from imgfleet.geo.supervisor import CONTROL

DEFAULT_FOLDER = Path(".imgfleet-geo")
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)?\s*")
_RATE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)b?(?:/s)?\s*", re.IGNORECASE)


class GeoError(Exception):
    """What a geo command says to its user (and exits 1 with)."""


def seconds(text: str) -> float:
    """`80ms`, `0.08s` or `80` (milliseconds) as seconds."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a duration such as 80ms or 0.08s, received {text!r}")
    value = float(match[1])
    return value if match[2] == "s" else value / 1000


def rate(text: str) -> float:
    """`10M`, `500k`, `1G` or a plain number: bytes per second (decimal prefixes)."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"expected bytes per second such as 10M or 500k, received {text!r}")
    return float(match[1]) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match[2].lower()]


def up(
    folder: Path,
    regions: int,
    rtt: float,
    bandwidth: float | None,
    services: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Start the cluster's supervisor, detached, and wait until every region is ready.
    `services`: PostgreSQL and Redis URLs for `--backends services`; None: embedded."""
    if _running(folder):
        raise GeoError(f"a cluster already runs in {folder}; `imgfleet geo down` first")
    try:
        plan = Plan.new(folder, regions, rtt, bandwidth, services)
    except ValueError as error:
        raise GeoError(str(error)) from None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE).unlink(missing_ok=True)
    plan.save()
    with open(folder / "supervisor.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "imgfleet.geo.supervisor", str(folder.resolve())],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command
        )
    deadline = time.monotonic() + READY_SECONDS + 15
    while time.monotonic() < deadline:
        state = _state(folder)
        if state.get("ready"):
            return state
        if "error" in state:
            raise GeoError(f"the cluster did not start: {state['error']}")
        time.sleep(0.2)
    raise GeoError(f"the cluster was not ready in time; see {folder / 'supervisor.log'}")


def command(folder: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one command to the supervisor; its answer's state."""
    path = folder / CONTROL
    if not path.exists():
        raise GeoError(f"no cluster runs in {folder} (`imgfleet geo up` starts one)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            raise GeoError(f"the cluster in {folder} does not answer") from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(sock.makefile("rb").readline() or b"{}")
    if not answer.get("ok"):
        raise GeoError(str(answer.get("error", "no answer")))
    state: dict[str, Any] = answer["state"]
    return state


def url(folder: Path, region: str) -> str:
    for each in command(folder, {"command": "state"})["regions"]:
        if each["name"] == region:
            return str(each["url"])
    raise GeoError(f"no region {region!r} in the cluster in {folder}")


def environment(folder: Path, region: str) -> dict[str, str]:
    """The settings a region's nodes run with (for `imgfleet keys`, `imgfleet sign`)."""
    state = command(folder, {"command": "env", "region": region})
    env: dict[str, str] = state["env"]
    return env


def down(folder: Path) -> None:
    command(folder, {"command": "down"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _state(folder).get("stopped"):
            return
        time.sleep(0.2)
    raise GeoError(f"the cluster did not stop in time; see {folder / 'supervisor.log'}")


def status(folder: Path) -> dict[str, Any]:
    """Each region: its URL, whether it is ready and cut off, and its replication from each
    peer (from its `/v1/regions`), with the backlog: events not yet applied, all pairs."""
    state = command(folder, {"command": "state"})
    backlog = 0
    with httpx.Client(timeout=2) as client:
        for region in state["regions"]:
            region["ready"] = _answers(client, region["url"] + "/ready")
            try:
                region["peers"] = client.get(region["url"] + "/v1/regions").json()["peers"]
            except (httpx.HTTPError, ValueError, KeyError):
                region["peers"] = []
            backlog += sum(peer["lag_events"] or 0 for peer in region["peers"])
    state["backlog"] = backlog
    return state


def follow(folder: Path, backlog: int, interval: float = 1.0) -> None:
    """A progress line, rewritten every `interval`, until the backlog has drained."""
    start, began = backlog, time.monotonic()
    while backlog > 0:
        time.sleep(interval)
        backlog = status(folder)["backlog"]
        done = start - backlog
        speed = done / (time.monotonic() - began)
        print(
            f"\rbacklog {backlog} events ({done} applied, {speed:.0f} events/s)",
            end="",
            flush=True,
        )
    print(f"\rbacklog drained in {time.monotonic() - began:.1f} s" + " " * 20)


def table(state: dict[str, Any]) -> str:
    lines = [
        f"{'region':8} {'url':24} {'ready':6} {'cut':4} replication from each peer "
        "(lag s / events not applied)"
    ]
    for region in state["regions"]:
        pairs = ", ".join(
            f"{peer['name']}: {peer['lag_seconds']:.3f} s / {_events(peer['lag_events'])}"
            + ("" if peer["connected"] else " (no link)")
            for peer in region.get("peers", [])
        )
        lines.append(
            f"{region['name']:8} {region['url']:24} {'yes' if region.get('ready') else 'NO':6} "
            f"{'yes' if region['cut'] else '-':4} {pairs or '-'}"
        )
    lines.append(f"backlog: {state['backlog']} events not yet applied, over all pairs")
    door = state.get("front_door")
    if door:
        lines.append(
            f"front door {door['url']}, per client region, nearest first (requests re-sent "
            "elsewhere / times marked down):"
        )
        for client, regions in door["sees"].items():
            seen = ", ".join(
                f"{region} {s['status']} ({s['redispatched']}/{s['downs']})"
                for region, s in regions.items()
            )
            lines.append(f"  clients of {client}: {seen}")
    return "\n".join(lines)


def _events(count: int | None) -> str:
    return "?" if count is None else str(count)


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _state(folder: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state


def _running(folder: Path) -> bool:
    try:
        command(folder, {"command": "state"}, timeout=2)
    except (GeoError, OSError):
        return False
    return True
