"""The servers imgfleet is compared with, each behind one small interface.

Every peer installs itself into the ignored `bench/.peers/<name>/` (idempotent, pinned
versions), runs on a free 127.0.0.1 port in its own process group, and builds the URL path
for one piece of work. `unique` changes the URL but not the work, so a run of distinct URLs
defeats any cache keyed on the URL while every request does the same rendering.

    thumbor   PyPI, own venv, Pillow engine           bench/peers/thumbor.py
    ipx       npm, on sharp (libvips)                 bench/peers/ipx.py
    nginx     Debian, static files (the cache-hit path) bench/peers/nginx.py
    imgfleet  this checkout's `imgfleet serve`          bench/peers/imgfleet.py

`python -m bench.peers.verify` installs and starts each one and checks its output sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

BENCH_DIR = Path(__file__).resolve().parents[1]
PEERS_DIR = BENCH_DIR / ".peers"  # git-ignored

OPS = ("fit", "fill")
FORMATS = ("jpeg", "webp", "avif", "png")


class Unsupported(ValueError):
    """The peer cannot do this piece of work (an output format it cannot write)."""


class Peer(Protocol):
    name: str
    formats: frozenset[str]  # output formats it can write; others raise Unsupported

    def install(self) -> None:
        """Install the pinned version under PEERS_DIR unless it is already there."""

    def versions(self) -> dict[str, str]:
        """Name -> version of what was installed (the server and its image library)."""

    def start(self, corpus_dir: Path, workers: int) -> None:
        """Serve `corpus_dir` with `workers` processes; returns once it answers."""

    def stop(self) -> None:
        """Stop the whole process tree; a no-op when not running."""

    @property
    def pid(self) -> int:
        """The root of the server's process tree (RSS and CPU are read from the tree)."""

    @property
    def base_url(self) -> str: ...

    def path(
        self,
        image_name: str,
        op: str,
        width: int,
        height: int,
        out_format: str,
        quality: int,
        unique: int,
    ) -> str:
        """The URL path (from the first `/`) for this work; raises Unsupported."""


def check_work(peer: Peer, op: str, out_format: str) -> None:
    """Raise Unsupported or ValueError for work `peer` cannot express."""
    if op not in OPS:
        raise ValueError(f"op: expected one of {OPS}, got {op!r}")
    if out_format not in peer.formats:
        raise Unsupported(f"{peer.name} cannot write {out_format!r}")


def all_peers() -> dict[str, Peer]:
    """A fresh, stopped instance of every peer, by name."""
    from bench.peers.imgfleet import Imgfleet
    from bench.peers.ipx import Ipx
    from bench.peers.nginx import Nginx
    from bench.peers.thumbor import Thumbor

    # mypy checks each against Peer
    peers: tuple[Peer, ...] = (Thumbor(), Ipx(), Nginx(), Imgfleet())
    return {peer.name: peer for peer in peers}
