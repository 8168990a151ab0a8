"""Functions a test runs inside a worker process; this module imports nothing of imgfleet."""

from __future__ import annotations

import sys


def loaded_modules(_: object = None) -> list[str]:
    return sorted(sys.modules)
