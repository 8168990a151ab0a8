"""The README's asset example works as written: against `imgfleet serve` set up as
`scripts/serve` sets it up, run by bash in a folder laid out like the checkout."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pyvips

from tests import readme
from tests.serving_process import serve_process

REPO = readme.REPO


def serve_script_presets() -> str:
    found = re.search(r"IMGFLEET_SECURITY__PRESETS='([^']*)'", (REPO / "scripts/serve").read_text())
    assert found, "scripts/serve no longer sets the quick start's presets"
    return found[1]


def test_the_readme_asset_example_uploads_and_fetches_a_thumbnail(tmp_path: Path) -> None:
    example = readme.example("## Assets")
    assert len(example.strip().splitlines()) <= 5
    for name in (".venv", "samples"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {
        **os.environ,
        "IMGFLEET_STORAGE__DATA": str(tmp_path / "data"),
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(REPO / "samples"),
        "IMGFLEET_SECURITY__PRESETS": serve_script_presets(),
        "IMGFLEET_RENDER__ISOLATION": "threads",
    }
    with serve_process(env) as (base, _):
        script = example.replace("http://127.0.0.1:8080", base)
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode == 0, ran.stderr
    thumb = pyvips.Image.new_from_file(str(tmp_path / "cat-thumb.webp"))
    assert (thumb.width, thumb.height) == (300, 200)
    assert thumb.get("vips-loader").startswith("webp")
