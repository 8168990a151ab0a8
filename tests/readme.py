"""The README's examples, read from its sections, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def example(heading: str) -> str:
    """The one ```sh block of the README section under `heading` (e.g. "## Assets")."""
    readme = (REPO / "README.md").read_text()
    section = readme.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"the README's {heading!r} section should show one example"
    return str(blocks[0])
