"""An image's appearance before it loads: a ThumbHash placeholder and its dominant colour.

Both are read when an asset is uploaded (`Engine.describe`) and kept on the asset
(`Asset.placeholder`, `Asset.dominant_color`), so that a client can paint something the
moment it lists assets, before a single rendition is fetched.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Appearance:
    placeholder: str  # the ThumbHash's bytes, base64 (standard alphabet, padded)
    dominant_color: str  # "#rrggbb", sRGB


def appearance(thumb_hash: Sequence[int], rgb: Sequence[float]) -> Appearance:
    """The appearance of a ThumbHash (its bytes) and a colour (sRGB channels, 0-255; rounded
    and clamped, since a colour computed as a mean may stray a little past either end)."""
    red, green, blue = (max(0, min(255, round(channel))) for channel in rgb)
    return Appearance(
        placeholder=base64.b64encode(bytes(thumb_hash)).decode("ascii"),
        dominant_color=f"#{red:02x}{green:02x}{blue:02x}",
    )
