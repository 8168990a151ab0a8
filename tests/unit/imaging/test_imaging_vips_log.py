"""libvips' warnings reach Python's logging, and a message logged from a handler cannot
abort the process (as a damaged image freed by the garbage collector there once did)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pyvips

from imgfleet.imaging import vips_log
from tests import imagegen

# A handler on the "pyvips" logger that logs a libvips message of its own, as an image's
# loader does when the collector frees it inside the handler.
NESTED = textwrap.dedent(
    """
    import logging, sys
    import pyvips
    from imgfleet.imaging import vips_log
    from tests import imagegen

    if sys.argv[1] == "routed":
        assert vips_log.route_vips_log()
    glib = vips_log.glib()

    class Nested(logging.Handler):
        def emit(self, record):
            glib.g_log(b"VIPS", vips_log.LEVEL_WARNING, b"%s", b"nested")

    logging.getLogger("pyvips").addHandler(Nested())
    pyvips.Image.new_from_buffer(imagegen.png(40, 30)[:-20], "").avg()
    print("survived")
    """
)


@pytest.mark.parametrize(("mode", "survives"), [("routed", True), ("pyvips-default", False)])
def test_a_message_logged_from_a_handler_does_not_abort(mode: str, survives: bool) -> None:
    root = Path(__file__).parents[3]
    done = subprocess.run(
        [sys.executable, "-c", NESTED, mode], cwd=root, capture_output=True, timeout=60
    )
    assert (done.returncode == 0 and done.stdout.strip() == b"survived") is survives, done
    assert b"nested" in done.stderr  # GLib's fallback handler wrote the nested message


def test_warnings_reach_logging_and_chatter_does_not(caplog: pytest.LogCaptureFixture) -> None:
    vips_log.route_vips_log()  # also done by configure_vips; must be idempotent
    with caplog.at_level(logging.DEBUG, logger="pyvips"):
        pyvips.Image.black(64, 64).avg()  # a thread pool: an INFO line in libvips
        pyvips.Image.new_from_buffer(imagegen.png(40, 30)[:-20], "").avg()
    vips = [r for r in caplog.records if r.getMessage().startswith("VIPS:")]
    assert vips and all(r.levelno == logging.WARNING for r in vips)
    assert any("not enough data" in r.getMessage() for r in vips)


def test_libvips_is_searched_before_libglib(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libglib-2.0.so.0\n"
        "7f01-7f02 r-xp 00000000 08:01 2 /site/pyvips_binary.libs/libvips-e4.so.42\n"
        "7f02-7f03 r-xp 00000000 08:01 3 /usr/lib/libz.so.1\n"
        "7f03-7f04 rw-p 00000000 00:00 0\n"
        "7f04-7f05 r-xp 00000000 08:01 2 /site/pyvips_binary.libs/libvips-e4.so.42\n"
    )
    assert vips_log.mapped_libraries(maps) == [
        "/site/pyvips_binary.libs/libvips-e4.so.42",
        "/usr/lib/libglib-2.0.so.0",
    ]
    assert vips_log.mapped_libraries(tmp_path / "absent") == []


def test_glib_is_found_in_this_process() -> None:
    assert vips_log.glib() is not None
