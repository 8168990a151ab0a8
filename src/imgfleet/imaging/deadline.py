"""The render deadline: checked between steps, and enforced inside libvips work.

libvips evaluates lazily, so most of a render's time is spent inside one call (the save, a
`copy_memory`, a statistic). Progress reporting is switched on for the loaded image; every
image derived from it reports `eval` progress to it, and once the deadline has passed the
handler kills the evaluation, which makes the running libvips call fail.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

import pyvips

from imgfleet.core.errors import RenderTimeout


class Deadline:
    """A `time.monotonic()` instant after which the render is abandoned."""

    def __init__(self, at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        self._clock = clock
        self.killed = False
        # pyvips holds a signal's callback on the Python wrapper of the image: keep the
        # wrappers alive as long as libvips may call back (as long as this deadline lives).
        self._watched: list[pyvips.Image] = []

    @property
    def passed(self) -> bool:
        return self.killed or self._clock() >= self.at

    def check(self, stage: str) -> None:
        """Raise `RenderTimeout` when the deadline has passed; `stage` names where."""
        if self.passed:
            raise RenderTimeout(f"render: the deadline passed before {stage}")

    def watch(self, image: pyvips.Image) -> None:
        """Kill libvips evaluation of `image` and everything derived from it when due."""
        # The callback holds this deadline weakly: a strong reference would close a cycle
        # (image -> callback -> deadline -> image) that keeps every decoded image of a
        # render in memory until the cyclic collector happens to run.
        handler = weakref.WeakMethod(self._on_eval)

        def on_eval(image: pyvips.Image, progress: object) -> None:
            method = handler()
            if method is not None:
                method(image, progress)

        image.set_progress(True)
        image.signal_connect("eval", on_eval)
        self._watched.append(image)

    def _on_eval(self, image: pyvips.Image, _progress: object) -> None:
        if self._clock() >= self.at:
            self.killed = True
            image.set_kill(True)
