"""Two regions, each with its own nats-server and embedded backends, replicating each other:
what is uploaded or deleted in one is delivered or refused by the other, and a key made or
revoked in one is honoured or refused by both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests import imagegen
from tests.nats_server import NatsServer, free_port, running_nats_server
from tests.serving_process import bearer, serve_process
from tests.waiting import until_blocking

SECRET = "a-cluster-secret-of-the-tests"
REPLICATED_WITHIN = 10.0  # seconds; the lag is far less, a busy CI machine may be slow


def region_env(
    name: str, data: Path, nats: NatsServer, peers: dict[str, tuple[int, NatsServer]]
) -> dict[str, str]:
    return {
        **os.environ,
        "IMGFLEET_REGION__NAME": name,
        "IMGFLEET_REGION__SECRET": SECRET,
        "IMGFLEET_REGION__PEERS": json.dumps(
            [
                {"name": peer, "url": f"http://127.0.0.1:{port}", "nats": server.url}
                for peer, (port, server) in peers.items()
            ]
        ),
        "IMGFLEET_EVENTS__BUS": nats.url,
        "IMGFLEET_STORAGE__DATA": str(data),
        "IMGFLEET_SECURITY__KEYS": b"regions-key".hex(),
        "IMGFLEET_SECURITY__SALTS": b"regions-salt".hex(),
        "IMGFLEET_RENDER__ISOLATION": "threads",
        "IMGFLEET_SERVER__ACCESS_LOG": "false",
        "IMGFLEET_REGION__WRITE_TIMEOUT": "3",
    }


def upload(
    base: str, auth: dict[str, str], width: int, concern: str = "local", status: int = 201
) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/v1/assets",
        content=imagegen.jpeg(width, 240),
        headers={**auth, "content-type": "image/jpeg", "write-concern": concern},
        timeout=10,
    )
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert answer.headers["imgfleet-hlc"] == body["hlc"]
    return body


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return 0


def answers(url: str, expected: int, what: str) -> None:
    until_blocking(lambda: status(url) == expected, what, REPLICATED_WITHIN)


def test_uploads_deletes_and_keys_replicate_between_two_regions(tmp_path: Path) -> None:
    with ExitStack() as stack:
        nats = {
            name: stack.enter_context(running_nats_server(_folder(tmp_path, f"nats-{name}")))
            for name in ("eu", "us")
        }
        ports = {name: free_port() for name in nats}
        envs = {
            name: region_env(
                name,
                _folder(tmp_path, name),
                nats[name],
                {peer: (ports[peer], nats[peer]) for peer in nats if peer != name},
            )
            for name in nats
        }
        auth = {name: bearer(env) for name, env in envs.items()}
        served = {
            name: stack.enter_context(serve_process(env, port=ports[name]))
            for name, env in envs.items()
        }
        bases = {name: base for name, (base, _) in served.items()}

        # Uploaded in one region, delivered by the other (which pulled the original).
        for home, other in (("eu", "us"), ("us", "eu")):
            asset = upload(bases[home], auth[home], 320 if home == "eu" else 330)
            urls = asset["urls"]
            assert isinstance(urls, dict)
            path = str(urls["default"]).removeprefix(bases[home])
            answers(bases[other] + path, 200, f"{other} to deliver an asset uploaded in {home}")

        # Asked for at once in the other region, before replication could bring it: served
        # anyway, pulled through from its home.
        fresh = upload(bases["eu"], auth["eu"], 310)
        fresh_path = str(fresh["urls"]["default"]).removeprefix(bases["eu"])
        assert status(bases["us"] + fresh_path) == 200
        read = httpx.get(f"{bases['us']}/v1/assets/{fresh['id']}", headers=auth["eu"], timeout=5)
        assert read.status_code == 200 and read.json()["sha256"] == fresh["sha256"]

        # Read-your-writes: a read that carries a write's clock sees that write at once in
        # the other region (which waits for replication, or takes the record from the home).
        edited = httpx.patch(
            f"{bases['eu']}/v1/assets/{fresh['id']}",
            json={"tags": ["seen"]},
            headers=auth["eu"],
            timeout=5,
        )
        clock = {"imgfleet-hlc": edited.headers["imgfleet-hlc"]}
        read = httpx.get(
            f"{bases['us']}/v1/assets/{fresh['id']}", headers={**auth["eu"], **clock}, timeout=5
        )
        assert read.status_code == 200 and read.json()["tags"] == ["seen"]
        removed = httpx.delete(f"{bases['eu']}/v1/assets/{fresh['id']}", headers=auth["eu"])
        clock = {"imgfleet-hlc": removed.headers["imgfleet-hlc"]}
        assert httpx.get(bases["us"] + fresh_path, headers=clock, timeout=5).status_code == 410

        # Each region reports its replication from the other.
        def report() -> dict[str, Any]:
            answer: dict[str, Any] = httpx.get(f"{bases['eu']}/v1/regions", timeout=5).json()
            return answer

        until_blocking(  # its key and its asset
            lambda: report()["peers"][0]["applied"] >= 2,
            "eu to apply us's events",
            REPLICATED_WITHIN,
        )
        regions = report()
        assert regions["region"] == "eu" and [p["name"] for p in regions["peers"]] == ["us"]
        peer = regions["peers"][0]
        assert peer["connected"] and peer["pulled_through"] + peer["pulled"] >= 1
        assert peer["watermark"].endswith("-us") and 0 <= peer["lag_seconds"] < REPLICATED_WITHIN
        metrics = httpx.get(f"{bases['eu']}/metrics", timeout=5).text
        assert 'imgfleet_replication_events_total{outcome="applied",peer="us"}' in metrics
        assert 'imgfleet_peer_breaker{peer="us",state="closed"} 1.0' in metrics
        assert 'imgfleet_replication_retries_total{peer="us"}' in metrics
        assert peer["breaker"] == "closed"
        assert {"retries", "hedged", "failovers"} <= set(peer)

        # Deleted in one, refused by the other.
        until_blocking(
            lambda: (
                httpx.delete(
                    f"{bases['eu']}/v1/assets/{asset['id']}", headers=auth["eu"], timeout=5
                ).status_code
                == 204
            ),
            "eu to delete an asset uploaded in us",
            REPLICATED_WITHIN,
        )
        answers(bases["us"] + path, 410, "us to refuse the asset deleted in eu")

        # A key made in one region works in the other; revoked there, it stops everywhere.
        listing = f"{bases['us']}/v1/assets"
        until_blocking(
            lambda: httpx.get(listing, headers=auth["eu"], timeout=5).status_code == 200,
            "us to accept a key made in eu",
            REPLICATED_WITHIN,
        )
        key_id = auth["eu"]["authorization"].split("_")[1]
        subprocess.run(
            [sys.executable, "-m", "imgfleet.cli", "keys", "revoke", key_id],
            env=envs["us"],
            check=True,
            capture_output=True,
        )
        until_blocking(
            lambda: (
                httpx.get(f"{bases['eu']}/v1/assets", headers=auth["eu"], timeout=5).status_code
                == 401
            ),
            "eu to refuse its key revoked in us",
            REPLICATED_WITHIN,
        )

        # Write concerns: `all` is answered once both regions hold the upload; with the
        # other region gone, `quorum` (2 of 2) is answered 202 once its time is up.
        both = upload(bases["us"], auth["us"], 340, "all")["replication"]
        assert both == {"concern": "all", "needed": 2, "regions": ["us", "eu"], "met": True}
        served["eu"][1].process.kill()
        alone = upload(bases["us"], auth["us"], 350, "quorum", status=202)["replication"]
        assert alone == {"concern": "quorum", "needed": 2, "regions": ["us"], "met": False}
        assert upload(bases["us"], auth["us"], 360)["replication"]["regions"] == ["us"]


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    return folder
