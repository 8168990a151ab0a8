"""`local:///` sources: served from under the root, never from outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgfleet.adapters.source.local import LocalSource
from imgfleet.core.errors import ForbiddenSource, SourceNotFound, TooLarge

BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with images, next to a secret the source must never serve."""
    root = tmp_path / "root"
    (root / "img" / "sub").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(BODY)
    (root / "img" / "sub" / "b.png").write_bytes(BODY[:10])
    (root / "%2e%2e").mkdir()  # a folder literally named like an escape
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "c.png").write_bytes(b"outside")
    return root


@pytest.fixture
def source(tree: Path) -> LocalSource:
    return LocalSource(tree)


async def test_reads_a_file(source: LocalSource) -> None:
    assert await source.fetch("local:///img/a.png", 10_000) == BODY
    assert await source.fetch("local:///img/sub/b.png", 10_000) == BODY[:10]


async def test_tolerates_empty_and_dot_segments(source: LocalSource) -> None:
    assert await source.fetch("local:///img//./sub/b.png", 10_000) == BODY[:10]


async def test_symlink_inside_the_root_is_followed(source: LocalSource, tree: Path) -> None:
    (tree / "alias.png").symlink_to(tree / "img" / "a.png")
    assert await source.fetch("local:///alias.png", 10_000) == BODY


async def test_root_given_through_a_symlink(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(tree, target_is_directory=True)
    assert await LocalSource(link).fetch("local:///img/a.png", 10_000) == BODY


@pytest.mark.parametrize(
    "url",
    [
        "local:///../secret.txt",
        "local:///img/../../secret.txt",
        "local:///img/../a.png",  # ".." is refused even when it would stay inside
        "local:///..",
        "local:///%2e%2e/secret.txt",
        "local:///%2E%2E/secret.txt",
        "local:///img/%2e./a.png",
        "local:///img%2fa.png",
        "local:///img%5ca.png",
        "local:///img/a.png%00.jpg",
        "local:///img/a.png\0.jpg",
        "local://etc/passwd",  # a host part: not the local:///path shape
        "local:/img/a.png",
        "http:///img/a.png",
    ],
)
async def test_escapes_are_forbidden(source: LocalSource, url: str) -> None:
    with pytest.raises(ForbiddenSource) as caught:
        await source.fetch(url, 10_000)
    assert caught.value.status == 403


async def test_absolute_path_stays_under_the_root(source: LocalSource, tmp_path: Path) -> None:
    # local:////abs/path must not be joined as an absolute path (which would replace the root)
    with pytest.raises(SourceNotFound):
        await source.fetch(f"local:///{tmp_path / 'secret.txt'}", 10_000)


async def test_symlink_out_of_the_root_is_forbidden(
    source: LocalSource, tree: Path, tmp_path: Path
) -> None:
    (tree / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (tree / "outside").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ForbiddenSource):
        await source.fetch("local:///leak.txt", 10_000)
    with pytest.raises(ForbiddenSource):
        await source.fetch("local:///outside/c.png", 10_000)


async def test_dangling_symlink_out_is_forbidden(source: LocalSource, tree: Path) -> None:
    (tree / "dangling").symlink_to("/nonexistent/elsewhere")
    with pytest.raises(ForbiddenSource):
        await source.fetch("local:///dangling", 10_000)


async def test_symlink_loop_is_not_found(source: LocalSource, tree: Path) -> None:
    (tree / "loop").symlink_to(tree / "loop")
    with pytest.raises((SourceNotFound, ForbiddenSource)):
        await source.fetch("local:///loop", 10_000)


async def test_literal_percent_folder_is_still_refused(source: LocalSource) -> None:
    with pytest.raises(ForbiddenSource):
        await source.fetch("local:///%2e%2e/anything", 10_000)


@pytest.mark.parametrize("url", ["local:///img/missing.png", "local:///nope/a.png"])
async def test_missing_file_is_not_found(source: LocalSource, url: str) -> None:
    with pytest.raises(SourceNotFound) as caught:
        await source.fetch(url, 10_000)
    assert caught.value.status == 404


@pytest.mark.parametrize("url", ["local:///img", "local:///img/", "local:///"])
async def test_directory_is_not_found(source: LocalSource, url: str) -> None:
    with pytest.raises(SourceNotFound):
        await source.fetch(url, 10_000)


async def test_fifo_is_not_found_and_does_not_block(source: LocalSource, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with pytest.raises(SourceNotFound):
        await source.fetch("local:///pipe", 10_000)


async def test_larger_than_the_limit(source: LocalSource) -> None:
    with pytest.raises(TooLarge) as caught:
        await source.fetch("local:///img/a.png", len(BODY) - 1)
    assert caught.value.status == 413
    assert await source.fetch("local:///img/a.png", len(BODY)) == BODY


async def test_huge_sparse_file_is_refused_without_reading(source: LocalSource, tree: Path) -> None:
    with (tree / "huge.bin").open("wb") as file:
        file.truncate(8 * 1024**3)  # 8 GiB of holes: reading it would take a while
    with pytest.raises(TooLarge):
        await source.fetch("local:///huge.bin", 1024)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        LocalSource(tmp_path / "missing")
