"""libvips imaging: the only package that imports pyvips.

`VipsEngine.probe(bytes) -> SourceInfo` reads a header; `VipsEngine.render(...)` runs the
fixed `pipeline.PIPELINE` over a `Plan` and encodes the result.
"""

from imgfleet.imaging.engine import ENGINE_VERSION, VipsEngine, configure_vips, engine_version
from imgfleet.imaging.memory import release_freed_memory

__all__ = [
    "ENGINE_VERSION",
    "VipsEngine",
    "configure_vips",
    "engine_version",
    "release_freed_memory",
]
