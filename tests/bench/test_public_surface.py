"""bench/ reaches imgfleet only through its public entry points, so refactors do not break it.

Allowed: the CLI, the settings, the composition root (`imgfleet.wiring` and its modules),
the engine's package (`imgfleet.imaging`, whose `__init__` exports the engine's public
functions, but none of its modules), `imgfleet.core.render_memory`: the memory estimate
that bench/memory.py calibrates against measured peaks, a pure function whose only other
caller is the service's admission, and `imgfleet.geo.cluster`, the local cluster that
`imgfleet geo` runs (bench/regions.py runs one in its own process).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
PUBLIC = (
    "imgfleet.cli",
    "imgfleet.settings",
    "imgfleet.imaging",
    "imgfleet.wiring",
    "imgfleet.core.render_memory",
    "imgfleet.geo.cluster",
    "imgfleet.geo.seaweedfs",
    "imgfleet.geo.front_door",
)


def public(module: str) -> bool:
    return module in PUBLIC or module.startswith("imgfleet.wiring.")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def imgfleet_imports(source: str) -> list[str]:
    """Every imgfleet module `source` imports (`from package import module` counts the
    module, a name defined in the package counts the package)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append(submodule if _is_module(submodule) else node.module)
    return [name for name in found if name == "imgfleet" or name.startswith("imgfleet.")]


def violations(source: str) -> list[str]:
    return [name for name in imgfleet_imports(source) if not public(name)]


def bench_modules() -> list[Path]:
    """bench/'s own modules: not what its runs installed into its ignored dot-folders."""
    return sorted(
        path
        for path in BENCH.rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(BENCH).parts)
    )


@pytest.mark.parametrize("path", bench_modules(), ids=lambda p: str(p.relative_to(BENCH)))
def test_bench_imports_only_public_imgfleet_modules(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from imgfleet.cli import signed_path", []),
        ("from imgfleet.imaging import VipsEngine, configure_vips", []),
        ("from imgfleet.wiring.dependencies import open_dependencies", []),
        ("from imgfleet.wiring import app", []),
        ("import json\nfrom bench import report", []),
        ("from imgfleet.imaging import engine", ["imgfleet.imaging.engine"]),
        ("from imgfleet.imaging.save import save", ["imgfleet.imaging.save"]),
        ("from imgfleet.core import geometry", ["imgfleet.core.geometry"]),
        ("from imgfleet.core.render_memory import peak_bytes", []),
        ("from imgfleet.core import render_memory", []),
        ("import imgfleet.service.render_job as job", ["imgfleet.service.render_job"]),
        ("from imgfleet import settings, ports", ["imgfleet.ports"]),
        ("def f():\n    from imgfleet.http.app import App", ["imgfleet.http.app"]),
    ],
)
def test_the_check_sees_what_it_should(source: str, bad: list[str]) -> None:
    assert violations(source) == bad
