"""An engine without libvips, for tests of everything around rendering.

Its images are a short header and JSON (`fake_image`): probe reads them back, render writes
one with the plan's size in the requested format. A fake image is of one colour (`color`,
RGB or RGBA, grey unless given): describe gives a real ThumbHash of it and that colour.
A gate holds renders where a test wants them, and counters say how many started and how
many are running, so tests can wait for "two renders at once" instead of sleeping. Like the
real engine it refuses what is not an image (415) and a render past its deadline (504).

A damaged source is a fake image with `warnings=[...]`, which its render warns (into the
capture open on its thread, else the log), and `corrupt=True`, which then fails it (415).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import thash

from imgfleet.core.appearance import Appearance, appearance
from imgfleet.core.errors import RenderTimeout, UnsupportedMedia
from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import WarningTally
from imgfleet.core.source import SourceInfo
from imgfleet.ports import Clock, Engine

log = logging.getLogger(__name__)

MAGIC = b"FAKEIMG\n"
GREY = (128, 128, 128, 255)


def fake_image(
    width: int, height: int, fmt: ImageFormat = ImageFormat.JPEG, pages: int = 1, **extra: Any
) -> bytes:
    """A fake image; `extra` fields (quality, ...) are kept as written."""
    fields = {"format": fmt.value, "width": width, "height": height, "pages": pages, **extra}
    return MAGIC + json.dumps(fields, sort_keys=True).encode()


def read_fake(data: bytes) -> dict[str, Any] | None:
    """A fake image's fields, or None for anything else."""
    if not data.startswith(MAGIC):
        return None
    try:
        fields = json.loads(data[len(MAGIC) :])
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


class FakeEngine:
    version = "fake-engine/1"

    def __init__(self, clock: Clock | None = None) -> None:
        self._monotonic = clock.monotonic if clock is not None else time.monotonic
        self.gate: threading.Event | None = None  # set: renders wait here until it opens
        self.started = 0  # renders begun
        self.releases = 0  # calls of release_memory
        self.running = 0  # renders begun and not yet returned
        self._lock = threading.Lock()
        self._captures = threading.local()  # .tally: the capture open on this thread

    def hold(self) -> threading.Event:
        """Hold every render from now on until the returned event is set."""
        self.gate = threading.Event()
        return self.gate

    def probe(self, data: bytes) -> SourceInfo:
        fields = read_fake(data)
        if fields is None:
            raise UnsupportedMedia("source: not an image (the fake engine reads fake images)")
        return SourceInfo(
            ImageFormat(fields["format"]), fields["width"], fields["height"], fields["pages"]
        )

    def describe(self, data: bytes) -> Appearance:
        info = self.probe(data)
        fields = read_fake(data) or {}
        if fields.get("corrupt"):
            raise UnsupportedMedia("source: the fake image is corrupt")
        red, green, blue, alpha = [*fields.get("color", GREY), 255][:4]
        scale = min(1.0, 100 / max(info.width, info.height))  # ThumbHash's 100 x 100
        width, height = max(1, round(info.width * scale)), max(1, round(info.height * scale))
        pixels = [red, green, blue, alpha] * (width * height)
        return appearance(thash.rgba_to_thumb_hash(width, height, pixels), (red, green, blue))

    def render(
        self,
        data: bytes,
        info: SourceInfo,
        plan: Plan,
        options: ProcessingOptions,
        fmt: ImageFormat,
        quality: int,
        deadline: float,
    ) -> bytes:
        with self._lock:
            self.started += 1
            self.running += 1
        try:
            gate = self.gate
            if gate is not None and not gate.wait(max(0.0, deadline - self._monotonic())):
                raise RenderTimeout("render: the deadline passed while held at the gate")
            if self._monotonic() > deadline:
                raise RenderTimeout("render: the deadline passed before the render")
            fields = read_fake(data) or {}
            self._warn(fields.get("warnings", ()))
            if fields.get("corrupt"):
                raise UnsupportedMedia("source: the fake image is corrupt")
            return fake_image(plan.width, plan.height, fmt, info.pages, quality=quality)
        finally:
            with self._lock:
                self.running -= 1

    def release_memory(self) -> None:
        with self._lock:
            self.releases += 1

    @contextlib.contextmanager
    def captured_warnings(self) -> Iterator[WarningTally]:
        tally = WarningTally()
        outer = getattr(self._captures, "tally", None)
        self._captures.tally = tally
        try:
            yield tally
        finally:
            self._captures.tally = outer

    def _warn(self, messages: list[str]) -> None:
        tally: WarningTally | None = getattr(self._captures, "tally", None)
        for message in messages:
            if tally is None:
                log.warning("fake engine: %s", message)
            else:
                tally.add(message)


def _implements_the_port(engine: FakeEngine) -> Engine:
    return engine  # mypy checks FakeEngine against the Engine protocol here
