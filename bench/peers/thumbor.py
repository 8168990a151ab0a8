"""thumbor (PyPI) in its own venv: file loader on the corpus, nothing stored, Pillow engine.

    /unsafe/fit-in/512x512/filters:format(jpeg):quality(80)/m1.jpg?u=7   fit inside the box
    /unsafe/300x200/filters:format(webp):quality(75)/m1.jpg?u=7         fill: centre crop
    /unsafe/fit-in/512x512/filters:format(png)/m1.png?u=7               PNG: no quality

thumbor routes on the path alone, so the `u` query parameter makes a distinct URL without
changing the work; with no storage and no result storage nothing is kept between requests.
`--processes N` forks N servers that share the listening socket (N = 1: no fork); each runs
its transforms on a pool of `threads` threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from bench.peers import FORMATS, PEERS_DIR, check_work
from bench.peers.process import PeerProcess, ProcessBacked, forked, http_answers, run_logged
from bench.server import HOST

# thumbor 7.8 asks for Pillow < 13; Pillow's own wheels carry libjpeg-turbo, libwebp and
# libavif (AVIF without pillow-avif-plugin). Smart crop (opencv) is not used.
REQUIREMENTS = ("thumbor==7.8.0", "Pillow==12.3.0")
VERSIONS_SCRIPT = """
import json, thumbor, PIL
from PIL import features
print(json.dumps({
    "thumbor": thumbor.__version__,
    "Pillow": PIL.__version__,
    "libjpeg-turbo": features.version("libjpeg_turbo") or "",
    "libwebp": features.version("webp") or "",
    "libavif": features.version("avif") or "",
}))
"""


def config_text(corpus_dir: Path, *, threads: int, avif_effort: int) -> str:
    """thumbor.conf: the peer baseline's settings (baseline JPEG, no storage of any kind)."""
    settings: dict[str, object] = {
        "LOADER": "thumbor.loaders.file_loader",
        "FILE_LOADER_ROOT_PATH": str(corpus_dir),
        "STORAGE": "thumbor.storages.no_storage",
        "RESULT_STORAGE": None,
        "ENGINE": "thumbor.engines.pil",
        "ENGINE_THREADPOOL_SIZE": threads,
        "PROGRESSIVE_JPEG": False,
        "QUALITY": 80,  # the default when a URL names no quality
        "PILLOW_RESAMPLING_FILTER": "LANCZOS",
        "RESPECT_ORIENTATION": True,  # like imgproxy, sharp and imgfleet
        "AUTO_WEBP": False,
        "AUTO_AVIF": False,
        "ALLOW_UNSAFE_URL": True,
        # libvips' AVIF effort e is libavif speed 9 - e; thumbor skips a speed of 0 (falsy)
        "AVIF_SPEED": 9 - avif_effort,
    }
    return "".join(f"{key} = {value!r}\n" for key, value in settings.items())


def thumbor_path(
    image_name: str, op: str, width: int, height: int, out_format: str, quality: int, unique: int
) -> str:
    box = f"fit-in/{width}x{height}" if op == "fit" else f"{width}x{height}"
    quality_filter = "" if out_format == "png" else f":quality({quality})"  # PNG is lossless
    filters = f"filters:format({out_format}){quality_filter}"
    return f"/unsafe/{box}/{filters}/{quote(image_name)}?u={unique}"


class Thumbor(ProcessBacked):
    name = "thumbor"
    formats = frozenset(FORMATS)

    def __init__(self, *, threads: int | None = None, avif_effort: int = 4) -> None:
        if not 0 <= avif_effort <= 8:
            raise ValueError(f"avif_effort: expected 0..8, got {avif_effort!r}")
        self.threads = threads or os.cpu_count() or 1
        self.avif_effort = avif_effort
        self.home = PEERS_DIR / "thumbor"
        self.venv = self.home / "venv"
        self._process = PeerProcess(self.name)

    @property
    def _marker(self) -> Path:
        return self.home / "installed.json"

    def install(self) -> None:
        wanted = list(REQUIREMENTS)
        if self._marker.exists() and json.loads(self._marker.read_text())["pins"] == wanted:
            return
        log = self.home / "install.log"
        log.unlink(missing_ok=True)
        if not (self.venv / "bin" / "python").exists():
            run_logged([sys.executable, "-m", "venv", str(self.venv)], log, timeout=300)
        pip = [str(self.venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        run_logged([*pip, "install", "--quiet", *wanted], log, timeout=900)
        found = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", VERSIONS_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        versions = json.loads(found.stdout)
        self._marker.write_text(json.dumps({"pins": wanted, "versions": versions}, indent=1))

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self._marker.read_text())["versions"]
        return found

    def start(self, corpus_dir: Path, workers: int) -> None:
        port = self._process.reserve_port()
        run = self.home / "run"
        run.mkdir(parents=True, exist_ok=True)
        conf = run / f"thumbor-{port}.conf"
        text = config_text(corpus_dir.resolve(), threads=self.threads, avif_effort=self.avif_effort)
        conf.write_text(text)
        command = [
            str(self.venv / "bin" / "thumbor"),
            f"--ip={HOST}",
            f"--port={port}",
            f"--conf={conf}",
            f"--processes={workers}",
            "--log-level=warning",
        ]
        self._process.start(
            command,
            log_path=run / f"thumbor-{port}.log",
            ready=http_answers(port, "/healthcheck"),
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
        return thumbor_path(image_name, op, width, height, out_format, quality, unique)
