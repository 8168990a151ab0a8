"""The pure parts of bench/peers: URL shapes, generated configs, work checks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.peers import FORMATS, Unsupported, check_work
from bench.peers.ipx import Ipx, ipx_path
from bench.peers.nginx import Nginx
from bench.peers.nginx import config_text as nginx_config
from bench.peers.process import forked
from bench.peers.thumbor import Thumbor, thumbor_path
from bench.peers.thumbor import config_text as thumbor_config


def test_thumbor_fit_is_fit_in_and_fill_is_a_plain_box() -> None:
    assert (
        thumbor_path("m1.jpg", "fit", 512, 512, "jpeg", 80, 7)
        == "/unsafe/fit-in/512x512/filters:format(jpeg):quality(80)/m1.jpg?u=7"
    )
    assert (
        thumbor_path("m1.jpg", "fill", 300, 200, "webp", 75, 7)
        == "/unsafe/300x200/filters:format(webp):quality(75)/m1.jpg?u=7"
    )


def test_thumbor_png_has_no_quality() -> None:
    assert thumbor_path("a.png", "fit", 512, 512, "png", 80, 1).endswith(
        "/filters:format(png)/a.png?u=1"
    )


def test_ipx_modifiers() -> None:
    assert (
        ipx_path("m1.jpg", "fit", 512, 512, "jpeg", 80, 7)
        == "/s_512x512,fit_inside,f_jpeg,q_80,cb_7/m1.jpg"
    )
    assert (
        ipx_path("m1.jpg", "fill", 300, 200, "avif", 65, 7)
        == "/s_300x200,fit_cover,f_avif,q_65,cb_7/m1.jpg"
    )


def test_ipx_png_has_no_quality_which_sharp_would_take_as_palette() -> None:
    assert (
        ipx_path("a.png", "fit", 512, 512, "png", 80, 1) == "/s_512x512,fit_inside,f_png,cb_1/a.png"
    )


@pytest.mark.parametrize("peer", [Thumbor(), Ipx(), Nginx()], ids=lambda p: p.name)
def test_unique_changes_the_url_only_in_its_distinct_part(peer: Thumbor | Ipx | Nginx) -> None:
    one = peer.path("m1.jpg", "fit", 512, 512, "jpeg", 80, 1001)
    two = peer.path("m1.jpg", "fit", 512, 512, "jpeg", 80, 1002)
    assert one != two
    assert one.replace("1001", "1002") == two  # nothing else moved
    assert urlsplit(one).path.endswith("/m1.jpg")


def test_names_are_quoted() -> None:
    assert "/a%20b.jpg" in thumbor_path("a b.jpg", "fit", 1, 1, "jpeg", 80, 0)
    assert ipx_path("a b.jpg", "fit", 1, 1, "jpeg", 80, 0).endswith("/a%20b.jpg")


def test_work_checks() -> None:
    peer = Thumbor()
    check_work(peer, "fit", "avif")
    with pytest.raises(ValueError, match="op"):
        check_work(peer, "crop", "jpeg")
    with pytest.raises(Unsupported, match="thumbor cannot write 'gif'"):
        peer.path("m1.jpg", "fit", 512, 512, "gif", 80, 0)
    assert set(FORMATS) <= peer.formats


def test_thumbor_config_is_python_with_the_baseline_settings() -> None:
    text = thumbor_config(Path("/corpus"), threads=2, avif_effort=4)
    settings: dict[str, object] = {}
    exec(text, {}, settings)
    assert settings["FILE_LOADER_ROOT_PATH"] == "/corpus"
    assert settings["STORAGE"] == "thumbor.storages.no_storage"
    assert settings["RESULT_STORAGE"] is None
    assert settings["ENGINE_THREADPOOL_SIZE"] == 2
    assert settings["PROGRESSIVE_JPEG"] is False
    assert settings["AVIF_SPEED"] == 5


def test_effort_is_validated() -> None:
    with pytest.raises(ValueError, match="avif_effort"):
        Thumbor(avif_effort=9)
    with pytest.raises(ValueError, match="avif_effort"):
        Ipx(avif_effort=10)


def test_nginx_config() -> None:
    text = nginx_config(Path("/static"), Path("/run/x"), port=8123, workers=2, as_root=False)
    for line in (
        "daemon off;",
        "worker_processes 2;",
        "access_log off;",
        "sendfile on;",
        "listen 127.0.0.1:8123;",
        "root /static;",
        "pid /run/x/nginx.pid;",
        "client_body_temp_path /run/x/tmp/client_body;",
        "image/avif avif;",
    ):
        assert line in text
    assert "user " not in text
    assert "user root root;" in nginx_config(
        Path("/s"), Path("/r"), port=1, workers=1, as_root=True
    )
    assert text.count("{") == text.count("}")


def test_nginx_path_names_the_file() -> None:
    assert Nginx().path("m1-fit.jpg", "fit", 512, 512, "jpeg", 80, 3) == "/m1-fit.jpg?u=3"


def test_forked_tree_sizes() -> None:
    assert forked(1) == 1
    assert forked(2) == 3
