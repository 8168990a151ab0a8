"""libvips' warnings reach Python's logging, or the capture of the render that raised
them, and a message logged from a handler cannot abort the process (as a damaged image
freed by the garbage collector there once did)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import pyvips

from imgfleet.core.render_warnings import RenderWarnings, WarningTally
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


def _warn(message: bytes, level: int = vips_log.LEVEL_WARNING) -> None:
    """Log a message in libvips' domain from this thread, as libvips does."""
    glib = vips_log.glib()
    assert glib is not None
    glib.g_log(b"VIPS", level, b"%s", message)


def _vips_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("VIPS:")]


def test_a_damaged_images_warnings_are_captured_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A truncated PNG warns from libvips' worker threads, a truncated GIF from the caller's:
    both land in the capture."""
    vips_log.route_vips_log()
    with caplog.at_level(logging.WARNING, logger="pyvips"):
        with vips_log.captured_warnings() as png:
            pyvips.Image.new_from_buffer(imagegen.truncated(imagegen.png(400, 300)), "").avg()
        with vips_log.captured_warnings() as gif:
            pyvips.Image.new_from_buffer(imagegen.truncated(imagegen.gif(400, 300)), "").avg()
    assert png.count > 0 and "not enough data" in png.messages
    assert gif.warnings.count > 0 and "Unexpected end of GIF source data" in gif.messages
    assert _vips_records(caplog) == []


def test_a_capture_counts_each_warning_once_and_keeps_few_messages() -> None:
    vips_log.route_vips_log()
    with vips_log.captured_warnings() as captured:
        for i in range(50):
            _warn(b"row %d is short" % (i % 5))
    assert captured.warnings.count == 50
    assert captured.warnings.messages == ("row 0 is short", "row 1 is short", "row 2 is short")


def test_each_thread_captures_its_own_warnings() -> None:
    vips_log.route_vips_log()
    inside, done = threading.Barrier(2), threading.Barrier(2)
    tallies: dict[str, WarningTally] = {}

    def render(name: str) -> None:
        with vips_log.captured_warnings() as captured:
            inside.wait()  # both captures open at once
            _warn(name.encode())
            done.wait()
        tallies[name] = captured

    threads = [threading.Thread(target=render, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {n: t.warnings for n, t in tallies.items()} == {
        "a": RenderWarnings(1, ("a",)),
        "b": RenderWarnings(1, ("b",)),
    }


def test_a_warning_from_another_thread_joins_the_open_capture_as_it_closes() -> None:
    """libvips' worker threads belong to no capture: what they log while one is open is
    kept for the next capture to close."""
    vips_log.route_vips_log()
    with vips_log.captured_warnings() as captured:
        worker = threading.Thread(target=_warn, args=(b"error in tile 0 x 144",))
        worker.start()
        worker.join()
    assert captured.warnings == RenderWarnings(1, ("error in tile 0 x 144",))
    with vips_log.captured_warnings() as later:
        pass
    assert later.warnings.count == 0  # taken once


def test_outside_a_capture_and_above_warnings_messages_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vips_log.route_vips_log()
    with caplog.at_level(logging.WARNING, logger="pyvips"):
        _warn(b"at startup")
        with vips_log.captured_warnings() as captured:
            _warn(b"a bug in libvips", vips_log.LEVEL_CRITICAL)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pyvips"]
    assert levels == [
        (logging.WARNING, "VIPS: at startup"),
        (logging.CRITICAL, "VIPS: a bug in libvips"),
    ]
    assert captured.warnings.count == 0
