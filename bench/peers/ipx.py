"""ipx (npm) on sharp/libvips, run through its Node API by `ipx_server.mjs`.

    /s_512x512,fit_inside,f_jpeg,q_80,cb_7/m1.jpg    fit inside the box
    /s_300x200,fit_cover,f_webp,q_75,cb_7/m1.jpg     fill: centre crop (sharp's default position)
    /s_512x512,fit_inside,f_png,cb_7/m1.png          PNG: no quality (sharp would quantise)

ipx keeps the query string in the image id (`m1.jpg?u=7` is refused as a forbidden path), so
the distinct part is a modifier ipx does not know, `cb_<n>`, which it ignores. ipx has no
result cache, and the server script turns sharp's operation cache off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from bench.peers import FORMATS, PEERS_DIR, check_work
from bench.peers.process import PeerProcess, ProcessBacked, forked, http_answers, run_logged

PACKAGES = {"ipx": "3.1.1", "sharp": "0.34.5"}  # sharp pinned too: ipx asks for ^0.34.3
SERVER_SCRIPT = Path(__file__).with_name("ipx_server.mjs")
VERSIONS_SCRIPT = """
const sharp = require("sharp");
const ipx = JSON.parse(require("fs").readFileSync("node_modules/ipx/package.json"));
console.log(JSON.stringify({
  ipx: ipx.version, sharp: sharp.versions.sharp, libvips: sharp.versions.vips,
  node: process.versions.node, "sharp.concurrency": String(sharp.concurrency()),
}));
"""
NODE_HINT = "node and npm are needed for ipx; on Debian: apt-get install -y nodejs npm"


def ipx_path(
    image_name: str, op: str, width: int, height: int, out_format: str, quality: int, unique: int
) -> str:
    fit = "inside" if op == "fit" else "cover"
    # sharp takes a PNG quality as "quantise to a palette": lossless PNG gets none
    q = "" if out_format == "png" else f",q_{quality}"
    modifiers = f"s_{width}x{height},fit_{fit},f_{out_format}{q},cb_{unique}"
    return f"/{modifiers}/{quote(image_name)}"


def node_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(NODE_HINT)
    return found


class Ipx(ProcessBacked):
    name = "ipx"
    formats = frozenset(FORMATS)

    def __init__(self, *, avif_effort: int = 4) -> None:
        if not 0 <= avif_effort <= 9:
            raise ValueError(f"avif_effort: expected 0..9, got {avif_effort!r}")
        self.avif_effort = avif_effort
        self.home = PEERS_DIR / "ipx"
        self._process = PeerProcess(self.name)

    @property
    def _marker(self) -> Path:
        return self.home / "installed.json"

    def install(self) -> None:
        if self._marker.exists() and json.loads(self._marker.read_text())["pins"] == PACKAGES:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        manifest = {"private": True, "name": "imgfleet-bench-ipx", "dependencies": PACKAGES}
        (self.home / "package.json").write_text(json.dumps(manifest, indent=1) + "\n")
        log = self.home / "install.log"
        log.unlink(missing_ok=True)
        npm = [node_binary("npm"), "install", "--no-audit", "--no-fund", "--omit=dev"]
        run_logged(npm, log, timeout=900, cwd=self.home)
        found = subprocess.run(
            [node_binary("node"), "-e", VERSIONS_SCRIPT],
            cwd=self.home,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        versions = json.loads(found.stdout)
        self._marker.write_text(json.dumps({"pins": PACKAGES, "versions": versions}, indent=1))

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self._marker.read_text())["versions"]
        return found

    def start(self, corpus_dir: Path, workers: int) -> None:
        port = self._process.reserve_port()
        script = self.home / "server.mjs"  # beside node_modules, so its imports resolve
        shutil.copyfile(SERVER_SCRIPT, script)
        command = [
            node_binary("node"),
            str(script),
            str(corpus_dir.resolve()),
            str(port),
            str(workers),
            str(self.avif_effort),
        ]
        self._process.start(
            command,
            log_path=self.home / "run" / f"ipx-{port}.log",
            ready=http_answers(port, "/", want_ok=False),  # 400: modifiers are missing
            cwd=self.home,
            processes=forked(workers),
        )

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
        check_work(self, op, out_format)
        return ipx_path(image_name, op, width, height, out_format, quality, unique)
