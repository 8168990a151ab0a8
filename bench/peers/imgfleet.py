"""imgfleet itself as a Peer: `imgfleet serve` from this checkout, on a free loopback port.

    /<signature>/rs:fit:512:512:0/q:80/cb:7/<base64 of local:///m1.jpg>.jpg
    /<signature>/rs:fill:300:200:0/g:ce/q:75/cb:7/<base64>.webp     fill: centre crop
    /<signature>/rs:fit:512:512:0/cb:7/<base64>.png                  PNG: no quality

The output format is the extension (no negotiation); `cb` (cachebuster) changes the URL and
the result-cache key but not the work, so distinct URLs are all renders. Paths are signed
with the settings of this process (`IMGFLEET_SECURITY__*`, which the server inherits), or
`/insecure/...` without keys. The encoder settings the URL cannot carry (WebP and AVIF
effort, PNG compression) are passed as settings, so the work matches the other servers'.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pyvips

from bench.peers import FORMATS, PEERS_DIR, check_work
from bench.peers.process import PeerProcess, ProcessBacked, http_answers
from bench.server import HOST
from imgfleet.cli import load_settings, signed_path
from imgfleet.settings import Settings

EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "png": "png"}


def imgfleet_options(
    op: str, width: int, height: int, out_format: str, quality: int | None, unique: int
) -> str:
    """The processing options for one piece of work, in imgproxy's dialect."""
    resize = f"rs:{op}:{width}:{height}:0" + ("/g:ce" if op == "fill" else "")
    q = "" if out_format == "png" or quality is None else f"/q:{quality}"
    return f"{resize}{q}/cb:{unique}"


def server_env(
    corpus_dir: Path, *, webp_effort: int, avif_effort: int, png_compression: int
) -> dict[str, str]:
    """The settings the benchmark gives the server: the corpus, no access log, encoders."""
    return {
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(corpus_dir.resolve()),
        "IMGFLEET_SERVER__ACCESS_LOG": "false",
        "IMGFLEET_SERVER__HOST": HOST,
        "IMGFLEET_FORMATS__WEBP_EFFORT": str(webp_effort),
        "IMGFLEET_FORMATS__AVIF_EFFORT": str(avif_effort),
        "IMGFLEET_FORMATS__PNG_COMPRESSION": str(png_compression),
    }


def launcher() -> list[str]:
    """`.venv/bin/imgfleet` beside this Python, else `python -m imgfleet.cli`."""
    script = Path(sys.executable).with_name("imgfleet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgfleet.cli"]


class Imgfleet(ProcessBacked):
    name = "imgfleet"
    formats = frozenset(FORMATS)

    def __init__(
        self,
        *,
        webp_effort: int = 4,
        avif_effort: int = 2,
        png_compression: int = 6,
        settings: Settings | None = None,
    ) -> None:
        if not 0 <= webp_effort <= 6:
            raise ValueError(f"webp_effort: expected 0..6, got {webp_effort!r}")
        if not 0 <= avif_effort <= 9:
            raise ValueError(f"avif_effort: expected 0..9, got {avif_effort!r}")
        if not 0 <= png_compression <= 9:
            raise ValueError(f"png_compression: expected 0..9, got {png_compression!r}")
        self.webp_effort = webp_effort
        self.avif_effort = avif_effort
        self.png_compression = png_compression
        self.settings = settings or load_settings()  # signing keys, as the server reads them
        self.home = PEERS_DIR / "imgfleet"
        self._process = PeerProcess(self.name)

    def install(self) -> None:
        """Nothing to install: it is this checkout, in this virtualenv."""

    def versions(self) -> dict[str, str]:
        vips = ".".join(str(pyvips.version(i)) for i in range(3))
        return {"imgfleet": version("imgfleet"), "pyvips": version("pyvips"), "libvips": vips}

    def start(self, corpus_dir: Path, workers: int) -> None:
        if workers != 1:
            raise ValueError(f"workers: `imgfleet serve` is one process, got {workers}")
        port = self._process.reserve_port()
        env = server_env(
            corpus_dir,
            webp_effort=self.webp_effort,
            avif_effort=self.avif_effort,
            png_compression=self.png_compression,
        )
        self._process.start(
            [*launcher(), "serve", "--host", HOST, "--port", str(port)],
            log_path=self.home / "run" / f"imgfleet-{port}.log",
            ready=http_answers(port, "/ready"),
            env=env,
        )

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path

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
        options = imgfleet_options(op, width, height, out_format, quality, unique)
        source = f"local:///{image_name}"
        return signed_path(self.settings, options, source, EXTENSIONS[out_format], plain=False)
