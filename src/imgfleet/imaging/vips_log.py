"""libvips' log messages: warnings into Python's logging, without the risk of an abort.

pyvips hands every message of libvips' "VIPS" log domain to Python's `logging`, down to the
INFO line each thread pool writes when it finishes. Python code run from inside GLib's
logger can start the garbage collector, which can free an image whose loader then logs a
warning of its own as it closes (a damaged file), and GLib treats a message logged from
inside a log handler as fatal: it aborts the process (a property test met it). Hence:

- only warnings and worse go to Python; INFO and DEBUG stay in C, where GLib drops them;
- GLib's fatal masks keep errors only, so a message logged from inside the handler goes
  to GLib's fallback handler (a line on stderr) instead of aborting.

A damaged source makes libvips warn on every request for it (a line per bad tile), so a
render's warnings are not logged: `captured_warnings()` collects them for the render that
runs in its block, and the server counts and logs them a line per source now and then.
libvips logs most of a render's warnings from its own worker threads, not from the thread
that called it ("error in tile 0 x 144" from a thread pool; GIF's "Unexpected end of GIF
source data" from the caller while it loads), and nothing ties a worker thread to the call
it works for. So a warning from the render's own thread joins that render's capture, and
one from any other thread, while captures are open, joins a process-wide tally that the
next capture to close takes. A render process runs one render at a time, so there every
warning lands on its render; where renders share a process as threads, a worker's warning
may land on another render that was running at the same time: the count stays exact, the
source it is put down to may not. Warnings with no capture open (startup, a collection
that frees an image later), errors and critical messages are logged as they come.

Our handler is Python called by GLib, as pyvips' was, so the two rules above still hold.
Adding to a tally allocates nothing the collector tracks, and the lock is re-entrant, so a
message logged by a collection started while the lock is held cannot deadlock either.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyvips

from imgfleet.core.render_warnings import WarningTally

log = logging.getLogger(__name__)
pyvips_log = logging.getLogger("pyvips")  # where pyvips' own handler logged them

DOMAIN = b"VIPS"
# GLogLevelFlags
LEVEL_ERROR = 1 << 2
LEVEL_CRITICAL = 1 << 3
LEVEL_WARNING = 1 << 4

_handler_id: int | None = None
_callback: Any = None  # _on_message as a C function, kept while GLib holds it
_pyvips: Any = pyvips  # its cffi handles are not in its type stubs

_lock = threading.RLock()  # re-entrant: see the module's docstring
_local = threading.local()  # .tally: the capture open on this thread, if any
_open = 0  # captures open in this process
_shared = WarningTally()  # warnings from other threads while captures are open


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


@contextlib.contextmanager
def captured_warnings() -> Iterator[WarningTally]:
    """Collect the warnings libvips logs while the block runs, instead of logging them.

    The tally is complete once the block has exited (it then takes what other threads
    logged meanwhile). Needs `route_vips_log()` first.
    """
    global _open
    tally = WarningTally()
    outer = getattr(_local, "tally", None)
    with _lock:
        _local.tally = tally
        _open += 1
    try:
        yield tally
    finally:
        with _lock:
            _local.tally = outer
            _open -= 1
            tally.absorb(_shared)
            _shared.clear()


def _on_message(domain: Any, level: int, message: Any, user_data: Any) -> None:
    """GLib's handler of the VIPS domain: a warning joins a capture, the rest is logged."""
    text = _pyvips.ffi.string(message).decode("utf-8", "replace")
    if level & LEVEL_WARNING:
        if _captured(text):
            return
        python_level = logging.WARNING
    else:
        python_level = logging.CRITICAL if level & LEVEL_CRITICAL else logging.ERROR
    pyvips_log.log(python_level, "VIPS: %s", text)


def _captured(message: str) -> bool:
    tally: WarningTally | None = getattr(_local, "tally", None)
    with _lock:
        if tally is None and _open:
            tally = _shared
        if tally is None:
            return False
        tally.add(message)
        return True


def route_vips_log() -> bool:
    """Send libvips' warnings and errors, not its chatter, to our handler (captures, else
    the "pyvips" logger), and make a nested message non-fatal; False where GLib cannot be
    reached (then only the former)."""
    global _handler_id, _callback
    if _handler_id is None:
        _pyvips._remove_log_handler()  # pyvips' own, for every level
        _callback = _pyvips.ffi.callback("GLogFunc", _on_message)
        _handler_id = _pyvips.glib_lib.g_log_set_handler(
            DOMAIN, LEVEL_WARNING | LEVEL_CRITICAL | LEVEL_ERROR, _callback, _pyvips.ffi.NULL
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
