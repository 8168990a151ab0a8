"""What every pipeline step may read: the plan, the options and the target format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from imgfleet.core.geometry import Plan
from imgfleet.core.options import Color, ImageFormat, ProcessingOptions
from imgfleet.imaging.deadline import Deadline


@dataclass(frozen=True, slots=True)
class Context:
    plan: Plan
    options: ProcessingOptions
    output: ImageFormat
    deadline: Deadline
    frame: bool = False  # processing one frame of an animation: no data-dependent geometry

    @property
    def background(self) -> Color | None:
        return self.plan.background or self.options.background

    def materialize(self, image: pyvips.Image) -> pyvips.Image:
        """Compute `image` into memory, for steps that read it out of order or twice.

        The copy no longer derives from the watched source, so it is watched itself.
        """
        image = image.copy_memory()
        self.deadline.watch(image)
        return image


Step = Callable[[Context, pyvips.Image], pyvips.Image]
