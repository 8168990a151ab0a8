"""nginx (Debian) serving a folder of files from disk: the cache-hit path to beat.

    /m1-fit512.jpg?u=7      the file as it is; nginx ignores the query of a static file

It renders nothing: `path` names the file `image_name` in the served folder and ignores the
work, so the caller puts there the bytes imgfleet serves for that rendition. Installing needs
root (apt-get); running does not (every path nginx writes is under bench/.peers/nginx/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from bench.peers import FORMATS, PEERS_DIR, check_work
from bench.peers.process import PeerProcess, ProcessBacked, apt_install, http_answers
from bench.server import HOST

INSTALL_HINT = "nginx is not installed; as root: apt-get install -y nginx"
MIME_TYPES = {
    "image/jpeg": "jpg jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
}


def config_text(root: Path, run_dir: Path, *, port: int, workers: int, as_root: bool) -> str:
    """A minimal nginx.conf: foreground master, no access log, sendfile, one static root."""
    temp = {
        name: run_dir / "tmp" / name
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    }
    types = "".join(f"        {mime} {exts};\n" for mime, exts in MIME_TYPES.items())
    temps = "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
    return (
        "daemon off;\n"
        "master_process on;\n"
        f"worker_processes {workers};\n"
        + ("user root root;\n" if as_root else "")  # workers read the corpus wherever it is
        + f"pid {run_dir / 'nginx.pid'};\n"
        f"error_log {run_dir / 'error.log'} warn;\n"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        "    access_log off;\n"
        "    sendfile on;\n"
        "    tcp_nopush on;\n"
        "    keepalive_requests 1000000;\n"  # like an ASGI server: no cap per connection
        "    types {\n" + types + "    }\n"
        "    default_type application/octet-stream;\n" + temps + "    server {\n"
        f"        listen {HOST}:{port};\n"
        f"        root {root};\n"
        "        location / { }\n"
        "    }\n"
        "}\n"
    )


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")  # not on every PATH


class Nginx(ProcessBacked):
    name = "nginx"
    formats = frozenset(FORMATS)

    def __init__(self) -> None:
        self.home = PEERS_DIR / "nginx"
        self._process = PeerProcess(self.name)

    def install(self) -> None:
        if nginx_binary() is None:
            apt_install("nginx", INSTALL_HINT, self.home / "install.log")

    def versions(self) -> dict[str, str]:
        binary = nginx_binary()
        if binary is None:
            raise SystemExit(INSTALL_HINT)
        said = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30).stderr
        found = re.search(r"nginx/(\S+)", said)
        return {"nginx": found.group(1) if found else said.strip()}

    def start(self, corpus_dir: Path, workers: int) -> None:
        binary = nginx_binary()
        if binary is None:
            raise SystemExit(INSTALL_HINT)
        port = self._process.reserve_port()
        run_dir = self.home / "run" / str(port)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        conf = run_dir / "nginx.conf"
        as_root = os.geteuid() == 0
        conf.write_text(
            config_text(corpus_dir.resolve(), run_dir, port=port, workers=workers, as_root=as_root)
        )
        command = [binary, "-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "error.log")]
        self._process.start(
            command,
            log_path=run_dir / "stdout.log",
            ready=http_answers(port, "/", want_ok=False),  # 403 or 404: no index
            processes=1 + workers,  # the master and its workers
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
        return f"/{quote(image_name)}?u={unique}"
