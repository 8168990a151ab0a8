"""The front door of a local cluster: HAProxy, configured here, run by `geo.cluster`.

It does what GeoDNS or a global load balancer does in production (docs/geo.md):
- Each client goes to its nearest healthy region. Its region comes from the
  `Imgfleet-Client-Region` header, else from its address in `client-regions.map`
  (`CIDR region` lines), else it is the first region's.
- One backend per client region lists every region, nearest first, under `balance first`:
  all traffic goes to the first server that is up.
- Health is checked actively (`GET /ready`, twice a second, down after 2 failures) and
  passively (errors on live traffic mark a server down).
- A request that failed is tried again on the next region (`option redispatch`): any request
  whose connection failed, since it never reached a region; a GET or HEAD also after an
  empty answer, a timeout or a 502/503/504. Anything else is never replayed, so an upload
  is sent once.
- `Imgfleet-Region` on every answer names the region that served it.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLIENT_HEADER = "Imgfleet-Client-Region"
CONFIG = "haproxy.cfg"
SOCKET = "haproxy.sock"
CLIENT_MAP = "client-regions.map"


@dataclass(frozen=True, slots=True)
class Door:
    """What the configuration needs: where the door listens, and where each region is."""

    port: int
    regions: Sequence[str]  # the first is the default client region
    servers: Mapping[str, str]  # region → host:port the door reaches it at
    rtt: Mapping[tuple[str, str], float]  # (client region, region) → seconds; nearest first


def nearest_first(door: Door, client: str) -> list[str]:
    """The regions in the order a client of `client` is sent to them."""
    others = [region for region in door.regions if region != client]
    return [client, *sorted(others, key=lambda region: door.rtt.get((client, region), 0.0))]


def haproxy_config(door: Door, folder: Path) -> str:
    lines = [
        "# Written by `imgfleet geo up`; see imgfleet/geo/front_door.py.",
        "global",
        f"    stats socket {folder / SOCKET} mode 600 level admin",
        "    hard-stop-after 10s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        "    timeout check 1s",
        "    retries 2",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout 502 503 504",
        "",
        "frontend door",
        f"    bind 127.0.0.1:{door.port}",
        "    # Only what never reached a region is re-sent, unless it is a GET or a HEAD.",
        "    http-request disable-l7-retry unless METH_GET",
        f"    http-request set-var(txn.client) req.hdr({CLIENT_HEADER}),lower",
        f"    http-request set-var(txn.client) src,map_ip({folder / CLIENT_MAP},"
        f"{door.regions[0]}) unless {{ var(txn.client) -m found }}",
        "    use_backend near-%[var(txn.client)]",
        f"    default_backend near-{door.regions[0]}",
        "    http-response set-header Imgfleet-Region %[srv_name]",
    ]
    for client in door.regions:
        lines += [
            "",
            f"backend near-{client}",
            "    balance first",
            "    option httpchk GET /ready",
            "    http-check expect status 200",
            "    default-server check inter 500ms fastinter 250ms downinter 1s fall 2 rise 2 "
            "observe layer7 error-limit 5 on-error mark-down",
        ]
        lines += [
            f"    server {region} {door.servers[region]}" for region in nearest_first(door, client)
        ]
    return "\n".join(lines) + "\n"


def client_map(regions: Sequence[str]) -> str:
    return (
        "# Client addresses → their region, one `CIDR region` per line (HAProxy map_ip).\n"
        f"# Unlisted clients, without an {CLIENT_HEADER} header, belong to {regions[0]}.\n"
    )


def haproxy() -> Path:
    """HAProxy's binary, or a RuntimeError that says how to get it."""
    found = shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise RuntimeError(
            "the front door needs HAProxy: apt-get install haproxy (scripts/bootstrap test "
            "installs it where it can)"
        )
    return Path(found)


def servers_seen(stat_csv: str) -> dict[str, dict[str, dict[str, str]]]:
    """From `show stat`: each client region's backend → each region's state (UP, DOWN, …)
    and counts: requests re-sent to another region (`redispatched`), retries, and how often
    the door marked it down (`downs`)."""
    seen: dict[str, dict[str, dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(stat_csv.lstrip("# "))):
        backend, server = row.get("pxname", ""), row.get("svname", "")
        if backend.startswith("near-") and server not in ("FRONTEND", "BACKEND"):
            seen.setdefault(backend.removeprefix("near-"), {})[server] = {
                "status": row.get("status", ""),
                "redispatched": row.get("wredis", "") or "0",
                "retries": row.get("wretr", "") or "0",
                "downs": row.get("chkdown", "") or "0",
            }
    return seen
