"""Install each peer, start it on generated images, and check one URL per op and format.

A 2040x1360 JPEG and PNG (pyvips, under bench/.peers/verify/) are fitted into 512x512
(expect 512x341) and filled to 300x200 (expect 300x200) in every format the peer writes;
the reply must be a 200 in that format and size (JPEG: baseline, 4:2:0), and the same work
under another `unique` must give the same bytes (the distinct part changes the URL, not the
work). nginx must give back a file's bytes. Prints a table; exits 1 on any failure.

    .venv/bin/python -m bench.peers.verify                     # every peer, 1 and 2 workers
    .venv/bin/python -m bench.peers.verify --peers ipx --workers 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/peers/verify.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyvips
from tests import imagegen

from bench.ceiling import output_size
from bench.peers import FORMATS, PEERS_DIR, Peer, all_peers
from bench.rss import tree_pids, tree_rss_bytes
from bench.server import get

FOLDER = PEERS_DIR / "verify"
SOURCE_SIZE = (2040, 1360)
CASES = (("fit", 512, 512), ("fill", 300, 200))
QUALITY = {"jpeg": 80, "webp": 75, "avif": 65, "png": 100}  # PNG ignores it
LOADERS = {
    "jpeg": "jpegload_buffer",
    "webp": "webpload_buffer",
    "avif": "heifload_buffer",
    "png": "pngload_buffer",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    op: str
    out_format: str
    status: int
    size: tuple[int, int]
    loader: str
    nbytes: int
    ms: float
    problem: str  # empty when all is well


def write_sources(folder: Path) -> dict[str, Path]:
    """The test images, written once."""
    folder.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[int, int], bytes]] = {"v.jpg": imagegen.jpeg, "v.png": imagegen.png}
    paths = {}
    for name, make in makers.items():
        path = folder / name
        if not path.exists():
            path.write_bytes(make(*SOURCE_SIZE))
        paths[name] = path
    return paths


def jpeg_kind(image: pyvips.Image) -> tuple[str, str]:
    scans = "progressive" if image.get("jpeg-multiscan") else "baseline"
    return scans, str(image.get("jpeg-chroma-subsample"))


def fetch(peer: Peer, path: str) -> tuple[int, bytes, float]:
    port = int(peer.base_url.rsplit(":", 1)[1])
    began = time.perf_counter()
    status, _, body = get(port, path, timeout=120.0)
    return status, body, (time.perf_counter() - began) * 1000


def check_render(peer: Peer, source: str, op: str, width: int, height: int, fmt: str) -> Outcome:
    status, body, ms = fetch(peer, peer.path(source, op, width, height, fmt, QUALITY[fmt], 1))
    size, loader, problem = (0, 0), "", ""
    if status != 200:
        problem = f"status {status}: {body[:200]!r}"
    else:
        image = pyvips.Image.new_from_buffer(body, "")
        size, loader = (image.width, image.height), str(image.get("vips-loader"))
        expected = output_size(*SOURCE_SIZE, op, width, height)
        if size != expected:
            problem = f"size {size}, expected {expected}"
        elif loader != LOADERS[fmt]:
            problem = f"{loader}, expected {LOADERS[fmt]}"
        elif fmt == "jpeg" and jpeg_kind(image) != ("baseline", "4:2:0"):
            problem = f"JPEG is {jpeg_kind(image)}, expected baseline 4:2:0"
        else:
            again = fetch(peer, peer.path(source, op, width, height, fmt, QUALITY[fmt], 2))[1]
            if again != body:
                problem = "another unique gave other bytes"
    return Outcome(source, op, fmt, status, size, loader, len(body), ms, problem)


def check_static(peer: Peer, sources: dict[str, Path]) -> list[Outcome]:
    found = []
    for name, path in sources.items():
        status, body, ms = fetch(peer, peer.path(name, "fit", 0, 0, "jpeg", 80, 1))
        problem = "" if status == 200 and body == path.read_bytes() else f"status {status}"
        found.append(Outcome(name, "file", "-", status, (0, 0), "", len(body), ms, problem))
    return found


def verify(peer: Peer, workers: int, sources: dict[str, Path]) -> list[Outcome]:
    peer.start(FOLDER, workers)
    try:
        processes, rss = len(tree_pids(peer.pid)), tree_rss_bytes(peer.pid)
        print(f"\n{peer.name}, {workers} workers: {processes} processes, {rss >> 20} MB RSS")
        if peer.name == "nginx":
            return check_static(peer, sources)
        return [
            check_render(peer, source, op, width, height, fmt)
            for source in sources
            for op, width, height in CASES
            for fmt in FORMATS
            if fmt in peer.formats
        ]
    finally:
        peer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--peers", default="thumbor,ipx,nginx")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args(argv)
    peers = all_peers()
    sources = write_sources(FOLDER)
    failures = 0
    for name in args.peers.split(","):
        peer = peers[name]
        began = time.perf_counter()
        peer.install()
        print(f"{name}: installed in {time.perf_counter() - began:.1f} s: {peer.versions()}")
        for workers in (int(w) for w in args.workers.split(",")):
            for o in verify(peer, workers, sources):
                failures += bool(o.problem)
                print(
                    f"  {o.source:6} {o.op:4} {o.out_format:4} {o.status} "
                    f"{o.size[0]:4}x{o.size[1]:<4} {o.nbytes:8} B {o.ms:7.1f} ms "
                    f"{o.problem or 'ok'}"
                )
    print(f"\n{failures} failures")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
