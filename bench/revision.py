"""The commit a benchmark runs at: `git rev-parse --short HEAD`, "+dirty" when the tree has
uncommitted changes (so a figure never claims a commit it was not measured at)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit(root: Path = ROOT) -> str:
    """ "1a2b3c4", "1a2b3c4+dirty", or "unknown" outside a git checkout (read-only)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + ("+dirty" if git("status", "--porcelain") else "")
