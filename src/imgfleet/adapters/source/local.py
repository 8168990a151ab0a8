"""`local:///path` sources: files under one root folder, never outside it."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

from imgfleet.core.errors import ForbiddenSource, SourceNotFound, TooLarge

_SCHEME = "local://"
# The URL arrives percent-decoded once; an escape still present for ".", "/", "\" or NUL is
# an attempt to have it decoded a second time somewhere.
_ENCODED_TRICK = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC


class LocalSource:
    """Reads `local:///relative/path` from under `root`.

    The path is checked twice: its text (no "..", no NUL, no encoded dots or slashes), then
    the file it resolves to, symlinks followed, must still lie under the resolved root.
    The file is opened without following a final symlink, so a swap after the check fails.
    """

    def __init__(self, root: Path) -> None:
        resolved = root.resolve()
        if not resolved.is_dir():
            raise ValueError(f"local source root is not a directory: {str(root)!r}")
        self._root = resolved

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        relative = _relative_path(url)
        return await asyncio.to_thread(self._read, relative, max_bytes)

    def _read(self, relative: str, max_bytes: int) -> bytes:
        try:
            path = (self._root / relative).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise SourceNotFound(f"source not found: local:///{relative}") from None
        if not path.is_relative_to(self._root):
            raise ForbiddenSource(f"source escapes the local root: local:///{relative}")
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            raise SourceNotFound(f"source not found: local:///{relative}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SourceNotFound(f"source is not a file: local:///{relative}")
            if info.st_size > max_bytes:
                raise TooLarge(f"source is larger than {max_bytes} bytes")
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read(max_bytes + 1)  # the file may have grown since fstat
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise TooLarge(f"source is larger than {max_bytes} bytes")
        return data


def _relative_path(url: str) -> str:
    """The path below the root named by `url`, after the textual checks."""
    if not url.startswith(_SCHEME):
        raise ForbiddenSource(f"not a local source URL: {url!r}")
    path = url[len(_SCHEME) :]
    if not path.startswith("/"):
        raise ForbiddenSource(f"local source URLs look like local:///path, received {url!r}")
    if "\0" in path:
        raise ForbiddenSource("local source path contains a NUL byte")
    if _ENCODED_TRICK.search(path):
        raise ForbiddenSource(f"local source path contains an encoded dot or slash: {url!r}")
    segments = path.split("/")
    if ".." in segments:
        raise ForbiddenSource(f"local source path contains '..': {url!r}")
    return "/".join(segment for segment in segments if segment not in ("", "."))
