"""bench/peers/imgfleet.py: imgfleet's URLs for the benchmark's work, and its settings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bench.peers import Unsupported, all_peers
from bench.peers.imgfleet import Imgfleet, imgfleet_options, server_env
from imgfleet.settings import Settings


def test_options() -> None:
    assert imgfleet_options("fit", 512, 512, "jpeg", 80, 7) == "rs:fit:512:512:0/q:80/cb:7"
    assert imgfleet_options("fill", 300, 200, "webp", 75, 7) == "rs:fill:300:200:0/g:ce/q:75/cb:7"
    assert imgfleet_options("fit", 512, 512, "png", 0, 7) == "rs:fit:512:512:0/cb:7"


def test_path_names_the_source_and_the_format_by_extension() -> None:
    peer = Imgfleet(settings=Settings(security={"keys": (), "salts": ()}))
    path = peer.path("m1.jpg", "fit", 512, 512, "avif", 65, 3)
    encoded = base64.urlsafe_b64encode(b"local:///m1.jpg").rstrip(b"=").decode()
    assert path == f"/insecure/rs:fit:512:512:0/q:65/cb:3/{encoded}.avif"


def test_signed_paths_differ_only_by_the_cachebuster_and_signature() -> None:
    keys = {"keys": ("ab" * 16,), "salts": ("cd" * 16,)}
    peer = Imgfleet(settings=Settings(security=keys))
    one, two = (peer.path("m1.jpg", "fit", 512, 512, "jpeg", 80, n) for n in (1, 2))
    assert not one.startswith("/insecure")
    assert one.split("/", 2)[2].replace("cb:1", "cb:2") == two.split("/", 2)[2]


def test_bad_settings_and_work_are_refused() -> None:
    with pytest.raises(ValueError, match="avif_effort"):
        Imgfleet(avif_effort=10)
    peer = Imgfleet()
    with pytest.raises(ValueError, match="op"):
        peer.path("m1.jpg", "crop", 1, 1, "jpeg", 80, 1)
    with pytest.raises(Unsupported):
        peer.path("m1.jpg", "fit", 1, 1, "tiff", 80, 1)
    with pytest.raises(ValueError, match="one process"):
        peer.start(Path("."), 2)


def test_server_env_turns_the_access_log_off_and_sets_the_encoders(tmp_path: Path) -> None:
    env = server_env(tmp_path, webp_effort=4, avif_effort=2, png_compression=6)
    assert env["IMGFLEET_SOURCES__LOCAL_ROOT"] == str(tmp_path.resolve())
    assert env["IMGFLEET_SERVER__ACCESS_LOG"] == "false"
    assert (env["IMGFLEET_FORMATS__WEBP_EFFORT"], env["IMGFLEET_FORMATS__AVIF_EFFORT"]) == (
        "4",
        "2",
    )


def test_it_is_registered() -> None:
    assert "imgfleet" in all_peers()
