"""`file:///absolute/path`: blobs as files under one folder (one node, or a shared mount).

A key's segments are folders and a file name under the root. A `put` writes a temporary
file in the key's folder, fsyncs it, renames it over the key and fsyncs the folder: a
reader sees the old bytes or the new ones, and a crash leaves at most a temporary file,
never a partial object under the key. A put with `durable=False` skips both fsyncs: a
reader still sees whole objects only, but after a crash of the host the object may be
missing or torn (the rename reached the disk before the bytes).

Temporary files are named `.<name>.<random>.tmp` (the name cut to 64 characters); no key
holds a "." (`core.blobs`), so they are never listed and never collide with a key. A
crash's leftovers are removed by `list` as it walks past them, once they are over an hour
old (a younger one may belong to a put in flight).

Folders are made (and fsynced into their parents) as keys need them, and removed when a
`delete` empties them. The root itself is never made: it must exist when the store is
opened, and a root gone later (an unmounted volume) is `StorageUnavailable`, not an empty
store. A key cannot be both a file and a folder of other keys (`a` and `a/b`): a put that
would need both is a `ValueError`.

Blocking calls run in a thread (`asyncio.to_thread`), except for small objects (up to
`INLINE_BYTES`) that touch the page cache only: a read the cache holds all of, and a put
with `durable=False` into a folder that exists. Those run on the event loop, as nginx
writes its cache files: under load a hop to a thread and back cost ~0.5 ms of CPU, more
than the work, and its waits for the interpreter lock set the tail of a stored-rendition
hit (docs/performance.md, "Assets"). `OSError`s are translated once, in
`_translated`: EACCES and EPERM become `StorageDenied`, every other (ENOSPC, EIO, EROFS,
EDQUOT, ...) `StorageUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote

from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.blobs import blob_key, blob_prefix, is_blob_key, verified
from imgfleet.core.errors import StorageDenied, StorageUnavailable
from imgfleet.ports import BlobInfo

STALE_AFTER = 3600.0  # seconds after which a temporary file is a crash's leftover
INLINE_BYTES = 1024 * 1024  # larger objects are read and written in a thread
_DENIED = frozenset({errno.EACCES, errno.EPERM})
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux 4.14+
_NOT_NOW = frozenset({errno.EAGAIN, errno.EOPNOTSUPP, errno.EINVAL})  # not cached; unsupported
_TEMPORARY_SUFFIX = ".tmp"


class _NotCached(Exception):
    """The object is not (all) in the page cache, or this system cannot tell: read it in a
    thread."""


class _Entry(NamedTuple):
    name: str
    is_folder: bool
    size: int
    modified: float


class FsBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    @classmethod
    def from_url(cls, url: str) -> FsBlobStore:
        """The store at `file:///absolute/path`, which must be an existing folder."""
        parsed = BackendUrl.parse(url)  # takes no option
        if parsed.host not in (None, "localhost") or not parsed.path.startswith("/"):
            raise ValueError(f"{url!r}: expected file:///absolute/path (three slashes)")
        root = Path(unquote(parsed.path))
        if not root.is_dir():
            raise ValueError(f"{url!r}: {str(root)!r} is not an existing folder")
        return cls(root)

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        path = self._path(key)
        with self._translated(key):
            if not durable and len(data) <= INLINE_BYTES and path.parent.is_dir():
                self._write(key, path, data, durable)  # into the page cache: no wait for the disk
            else:
                await asyncio.to_thread(self._write, key, path, data, durable)

    async def get(self, key: str, sha256: str | None = None) -> bytes | None:
        path = self._path(key)
        with self._translated(key):
            if sha256 is None:  # a check of the bytes is CPU work: in the thread
                with contextlib.suppress(_NotCached):
                    return self._read_cached(path)
            return await asyncio.to_thread(self._read, key, path, sha256)

    async def has(self, key: str) -> bool:
        path = self._path(key)
        with self._translated(key):
            found = await asyncio.to_thread(path.is_file)
            if not found:
                self._check_root()
        return found

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with self._translated(key):
            await asyncio.to_thread(self._remove, path)

    async def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Keys starting with `prefix`, in key order, walking one folder at a time."""
        folder, _, start = blob_prefix(prefix).rpartition("/")
        async for info in self._walk(f"{folder}/" if folder else "", start):
            yield info

    async def aclose(self) -> None:
        pass

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*blob_key(key).split("/"))

    async def _walk(self, base: str, start: str) -> AsyncIterator[BlobInfo]:
        """The keys under the folder for `base` (a prefix ending in "/", or ""), whose
        next segment starts with `start`, in key order."""
        with self._translated(base or "/"):
            entries = await asyncio.to_thread(self._entries, base, start)
        for entry in entries:
            if entry.is_folder:
                async for info in self._walk(f"{base}{entry.name}/", ""):
                    yield info
            else:
                yield BlobInfo(base + entry.name, entry.size, entry.modified)

    # What follows runs in a worker thread.

    def _write(self, key: str, path: Path, data: bytes, durable: bool) -> None:
        temporary, file = self._create_temporary(key, path)
        try:
            with file:
                file.write(data)
                if durable:
                    file.flush()
                    os.fsync(file.fileno())
            try:
                os.replace(temporary, path)
            except IsADirectoryError:
                raise _conflict(key) from None
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        if durable:
            _fsync_folder(path.parent)

    def _create_temporary(self, key: str, path: Path) -> tuple[Path, BinaryIO]:
        attempts = 3  # a delete may remove the folder, emptied, between its making and use
        while True:
            self._make_folder(key, path.parent)
            # The start of the key's name, for whoever looks; short enough for any segment.
            name = f".{path.name[:64]}.{secrets.token_hex(8)}{_TEMPORARY_SUFFIX}"
            temporary = path.with_name(name)
            try:
                return temporary, open(temporary, "xb")  # closed by _write
            except FileNotFoundError:
                attempts -= 1
                if not attempts:
                    raise

    def _make_folder(self, key: str, folder: Path) -> None:
        """Make `folder` and the folders above it up to the root, each fsynced into its
        parent so that a key put survives a crash with its path."""
        if folder == self._root or folder.is_dir():
            return
        self._make_folder(key, folder.parent)
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():  # a file where the key needs a folder
                raise _conflict(key) from None
            return  # made by a concurrent put
        except FileNotFoundError:
            self._check_root()
            raise
        _fsync_folder(folder.parent)

    def _read_cached(self, path: Path) -> bytes | None:
        """The object, read on the event loop if the page cache holds all of it (`preadv`
        with RWF_NOWAIT never waits for the disk); None if there is none; `_NotCached` for
        the thread to read it. The open may still read the disk for a folder not cached."""
        if _NOWAIT is None:
            raise _NotCached
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            self._check_root()
            return None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                return None  # a folder of other keys
            if info.st_size > INLINE_BYTES:
                raise _NotCached
            buffer = bytearray(info.st_size)
            try:
                count = os.preadv(descriptor, [buffer], 0, _NOWAIT)
            except OSError as error:
                if error.errno in _NOT_NOW:
                    raise _NotCached from None
                raise
            if count != info.st_size:  # some of it is on the disk only
                raise _NotCached
            return bytes(buffer)
        finally:
            os.close(descriptor)

    def _read(self, key: str, path: Path, sha256: str | None) -> bytes | None:
        try:
            with open(path, "rb") as file:
                data = file.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._check_root()
            return None
        return verified(key, data, sha256)  # here, off the event loop

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._check_root()
            return
        _fsync_folder(path.parent)
        folder = path.parent
        while folder != self._root:  # best effort: a put may be filling it again
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _entries(self, base: str, start: str) -> tuple[_Entry, ...]:
        folder = self._root.joinpath(*base.split("/")[:-1])
        try:
            with os.scandir(folder) as items:
                scanned = tuple(items)
        except (FileNotFoundError, NotADirectoryError):
            self._check_root()
            return ()
        now = time.time()
        found = (_entry(item, now) for item in scanned if item.name.startswith(start))
        # Key characters all sort after "/", so names in order are keys in order (core.blobs).
        return tuple(sorted((entry for entry in found if entry), key=_name))

    def _check_root(self) -> None:
        if not self._root.is_dir():
            raise StorageUnavailable("blob store: its folder is missing (not mounted?)")

    @contextlib.contextmanager
    def _translated(self, key: str) -> Iterator[None]:
        """The filesystem's errors, translated once, here."""
        try:
            yield
        except OSError as error:
            reason = error.strerror or type(error).__name__
            if error.errno in _DENIED:
                raise StorageDenied(f"blob store: {key}: {reason}") from error
            raise StorageUnavailable(f"blob store: {key}: {reason}") from error


def _entry(item: os.DirEntry[str], now: float) -> _Entry | None:
    """A folder or file that holds keys; None for anything else, for a temporary file
    (removed when stale) and for a file deleted since the folder was scanned."""
    try:
        if item.is_dir(follow_symlinks=False):
            return _Entry(item.name, True, 0, 0.0) if is_blob_key(item.name) else None
        if not item.is_file(follow_symlinks=False):
            return None
        info = item.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if item.name.startswith(".") and item.name.endswith(_TEMPORARY_SUFFIX):
        if now - info.st_mtime > STALE_AFTER:
            with contextlib.suppress(OSError):
                os.unlink(item.path)
        return None
    return _Entry(item.name, False, info.st_size, info.st_mtime) if is_blob_key(item.name) else None


def _name(entry: _Entry) -> str:
    return entry.name


def _conflict(key: str) -> ValueError:
    return ValueError(f"blob key {key!r}: a file store cannot hold a key and keys below it")


def _fsync_folder(folder: Path) -> None:
    """Make the folder's latest entries (a rename, a new folder) durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
