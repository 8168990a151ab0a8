"""A rendition: the bytes of one rendered image and their media type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rendition:
    body: bytes
    media_type: str
