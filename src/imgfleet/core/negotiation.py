"""Output format negotiation from the `Accept` header."""

from __future__ import annotations

from imgfleet.core.options import ImageFormat


def accepted(accept: str, media_type: str) -> bool:
    """Whether `accept` lists `media_type` explicitly with a non-zero q (wildcards don't count).

    Browsers that support AVIF/WebP name them; `*/*` alone says nothing about support.
    """
    for item in accept.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() != media_type:
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def negotiate(accept: str, *, prefer_avif: bool, prefer_webp: bool) -> ImageFormat | None:
    """AVIF, then WebP, when the client accepts them and settings allow them.

    None keeps the source's format. The caller turns a negotiated AVIF into WebP for
    animations (we write still AVIF only) so they keep their frames.
    """
    if prefer_avif and accepted(accept, ImageFormat.AVIF.media_type):
        return ImageFormat.AVIF
    if prefer_webp and accepted(accept, ImageFormat.WEBP.media_type):
        return ImageFormat.WEBP
    return None
