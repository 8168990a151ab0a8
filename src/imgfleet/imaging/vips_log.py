"""libvips' log messages: warnings into Python's logging, without the risk of an abort.

pyvips hands every message of libvips' "VIPS" log domain to Python's `logging`, down to the
INFO line each thread pool writes when it finishes. Python code run from inside GLib's
logger can start the garbage collector, which can free an image whose loader then logs a
warning of its own as it closes (a damaged file), and GLib treats a message logged from
inside a log handler as fatal: it aborts the process (a property test met it). Hence:

- only warnings and worse go to Python; INFO and DEBUG stay in C, where GLib drops them;
- GLib's fatal masks keep errors only, so a message logged from inside the handler goes
  to GLib's fallback handler (a line on stderr) instead of aborting.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
from pathlib import Path
from typing import Any

import pyvips

log = logging.getLogger(__name__)

DOMAIN = b"VIPS"
# GLogLevelFlags
LEVEL_ERROR = 1 << 2
LEVEL_CRITICAL = 1 << 3
LEVEL_WARNING = 1 << 4

_handler_id: int | None = None
_pyvips: Any = pyvips  # its cffi handles and log callback are not in its type stubs


def mapped_libraries(maps: Path = Path("/proc/self/maps")) -> list[str]:
    """The loaded libvips and libglib files, libvips first: a libvips that exports GLib's
    functions has its own copy of GLib inside (pyvips-binary's), the one that counts."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    paths = {fields[5] for line in lines if len(fields := line.split(maxsplit=5)) == 6}
    wanted = (p for p in paths if Path(p).name.startswith(("libvips", "libglib-2.0")))
    return sorted(wanted, key=lambda p: (not Path(p).name.startswith("libvips"), p))


def glib() -> ctypes.CDLL | None:
    """The loaded library that holds libvips' GLib, or None (not Linux, not loaded)."""
    for path in mapped_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:  # replaced on disk since it was loaded
            continue
        if hasattr(library, "g_log_set_fatal_mask"):
            return library
    return None


def route_vips_log() -> bool:
    """Send libvips' warnings and errors, not its chatter, to the "pyvips" logger, and make
    a nested message non-fatal; False where GLib cannot be reached (then only the former)."""
    global _handler_id
    if _handler_id is None:
        _pyvips._remove_log_handler()  # pyvips' own, for every level
        _handler_id = _pyvips.glib_lib.g_log_set_handler(
            DOMAIN,
            LEVEL_WARNING | LEVEL_CRITICAL | LEVEL_ERROR,
            _pyvips._log_handler_cb,
            _pyvips.ffi.NULL,
        )
        atexit.register(_remove_handler, _pyvips.glib_lib.g_log_remove_handler)
    library = glib()
    if library is None:
        log.warning("GLib not found: a libvips message logged from a log handler aborts")
        return False
    # A message counts as fatal if its level is in GLib's global mask or its domain's;
    # both hold "recursion" by default.
    library.g_log_set_always_fatal(LEVEL_ERROR)
    library.g_log_set_fatal_mask(DOMAIN, LEVEL_ERROR)
    return True


def _remove_handler(remove: Any) -> None:
    """At exit, while Python can still run the handler: libvips may log as it shuts down."""
    global _handler_id
    if _handler_id is not None:
        remove(DOMAIN, _handler_id)
        _handler_id = None
