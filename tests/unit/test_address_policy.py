"""The SSRF address table and the URL allowlist rule."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfleet.core.address_policy import (
    ForbiddenReason,
    allowed_by_prefix,
    is_forbidden,
    normalise_url,
)

R = ForbiddenReason

FORBIDDEN = [
    # IPv4
    ("127.0.0.1", R.LOOPBACK),
    ("127.255.255.254", R.LOOPBACK),
    ("10.0.0.1", R.PRIVATE),
    ("172.16.0.1", R.PRIVATE),
    ("172.31.255.255", R.PRIVATE),
    ("192.168.1.1", R.PRIVATE),
    ("169.254.1.1", R.LINK_LOCAL),
    ("169.254.169.254", R.METADATA),
    ("169.254.170.2", R.METADATA),
    ("100.100.100.200", R.METADATA),
    ("168.63.129.16", R.METADATA),
    ("100.64.0.1", R.SHARED),
    ("100.127.255.254", R.SHARED),
    ("0.0.0.0", R.UNSPECIFIED),
    ("0.1.2.3", R.UNSPECIFIED),
    ("224.0.0.1", R.MULTICAST),
    ("239.255.255.250", R.MULTICAST),
    ("240.0.0.1", R.RESERVED),
    ("255.255.255.255", R.RESERVED),
    ("192.0.2.1", R.RESERVED),
    ("198.18.0.1", R.RESERVED),
    ("198.51.100.7", R.RESERVED),
    ("203.0.113.9", R.RESERVED),
    ("192.0.0.8", R.RESERVED),
    ("192.88.99.1", R.RESERVED),
    # IPv6
    ("::1", R.LOOPBACK),
    ("::", R.UNSPECIFIED),
    ("fe80::1", R.LINK_LOCAL),
    ("fe80::1%eth0", R.LINK_LOCAL),
    ("fc00::1", R.UNIQUE_LOCAL),
    ("fd12:3456::1", R.UNIQUE_LOCAL),
    ("fd00:ec2::254", R.METADATA),
    ("fec0::1", R.PRIVATE),
    ("ff02::1", R.MULTICAST),
    ("ff0e::1", R.MULTICAST),
    ("2001:db8::1", R.RESERVED),
    ("3fff::1", R.RESERVED),
    ("100::1", R.RESERVED),
    ("2001:2::1", R.RESERVED),
    ("2001::1", R.TUNNEL),
    ("64:ff9b:1::1", R.PRIVATE),
    ("4000::1", R.RESERVED),
    ("::2:3:4:5", R.RESERVED),
    # IPv6 forms that carry a forbidden IPv4 address
    ("::ffff:127.0.0.1", R.LOOPBACK),
    ("::ffff:7f00:1", R.LOOPBACK),
    ("::ffff:10.1.2.3", R.PRIVATE),
    ("::ffff:169.254.169.254", R.METADATA),
    ("::ffff:100.64.0.1", R.SHARED),
    ("::ffff:0.0.0.0", R.UNSPECIFIED),
    ("::127.0.0.1", R.LOOPBACK),
    ("::192.168.0.1", R.PRIVATE),
    ("::8.8.8.8", R.RESERVED),  # IPv4-compatible is deprecated even for public addresses
    ("::ffff:0:127.0.0.1", R.LOOPBACK),  # SIIT
    ("2002:7f00:1::1", R.LOOPBACK),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", R.METADATA),  # 6to4 of 169.254.169.254
    ("2002:c0a8:101::", R.PRIVATE),  # 6to4 of 192.168.1.1
    ("64:ff9b::7f00:1", R.LOOPBACK),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", R.METADATA),  # NAT64 of 169.254.169.254
    ("64:ff9b::10.0.0.1", R.PRIVATE),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "169.255.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::8.8.8.8",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize(("text", "reason"), FORBIDDEN)
def test_forbidden_addresses(text: str, reason: ForbiddenReason) -> None:
    assert is_forbidden(ip_address(text)) == reason


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text: str) -> None:
    assert is_forbidden(ip_address(text)) is None
    assert is_forbidden(ip_address(text), allow_private_networks=True) is None


@pytest.mark.parametrize(("text", "reason"), FORBIDDEN)
def test_allowing_private_networks_still_refuses_metadata(
    text: str, reason: ForbiddenReason
) -> None:
    expected = reason if reason is R.METADATA else None
    assert is_forbidden(ip_address(text), allow_private_networks=True) == expected


def test_reasons_are_strings() -> None:
    reason = is_forbidden(ip_address("127.0.0.1"))
    assert isinstance(reason, str)
    assert reason == "loopback"


@given(st.ip_addresses(v=4))
def test_mapped_form_is_judged_like_the_ipv4_address(v4: IPv4Address) -> None:
    mapped = ip_address(f"::ffff:{v4}")
    nat64 = ip_address(f"64:ff9b::{v4}")
    assert is_forbidden(mapped) == is_forbidden(v4)
    assert is_forbidden(nat64) == is_forbidden(v4)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://a.com", "https://a.com/"),
        ("HTTPS://A.COM/Img.PNG", "https://a.com/Img.PNG"),
        ("https://a.com:443/x", "https://a.com/x"),
        ("http://a.com:80/x", "http://a.com/x"),
        ("http://a.com:8080/x", "http://a.com:8080/x"),
        ("https://a.com/x#frag", "https://a.com/x"),
        ("https://a.com/x?b=1&a=2", "https://a.com/x?b=1&a=2"),
        ("https://a.com/a/./b/../c", "https://a.com/a/c"),
        ("https://a.com/a/%2e%2e/b", "https://a.com/b"),
        ("https://a.com/a/%2E%2E/%2e/b", "https://a.com/b"),
        ("https://a.com/../../x", "https://a.com/x"),
        ("https://a.com/a/..", "https://a.com/"),
        ("https://a.com/a/.", "https://a.com/a/"),
        ("https://a.com/a//b", "https://a.com/a//b"),
        ("https://a.com/%7e%41%20", "https://a.com/~A%20"),
        ("https://a.com/%c3%a9", "https://a.com/%C3%A9"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[0:0::1]/x", "http://[::1]/x"),
        ("http://127.0.0.1/x", "http://127.0.0.1/x"),
    ],
)
def test_normalise_url(url: str, normal: str) -> None:
    assert normalise_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "https://",
        "/relative/path",
        "https://user:pw@a.com/x",
        "https://a.com@evil.net/",
        "https://@a.com/",
        "https://a.com\\@evil.net/",
        "https://a.com:99999/",
        "https://a.com:port/",
        "https://a%2ecom/",
        "https://ex ample.com/",
        "https://exämple.com/",
        "https://a.com/a%2Fb",
        "https://a.com/a%5cb",
        "https://a.com/a\\b",
        "https://a.com/%zz",
        "https://a.com/%4",
        "http://[::1/",
        "http://[v1.fe]/",  # IPvFuture
        "http://[::1]x/",
    ],
)
def test_untrustworthy_urls_do_not_normalise(url: str) -> None:
    assert normalise_url(url) is None
    assert not allowed_by_prefix(url, ["https://", "http://", "https://a.com/"])


_PATHS = st.text(alphabet="abc./%2eEf~-", max_size=20).map(lambda text: "/" + text)


@given(_PATHS)
def test_normalising_is_idempotent(path: str) -> None:
    normal = normalise_url(f"https://a.com{path}")
    if normal is not None:
        assert normalise_url(normal) == normal


# --- prefix rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "prefix", "allowed"),
    [
        ("https://a.com/x.png", "https://a.com", True),
        ("https://a.com", "https://a.com", True),
        ("https://a.com.evil.net/x.png", "https://a.com", False),
        ("https://a.com.evil.net/x.png", "https://a.com/", False),
        ("https://a.com:8443/x.png", "https://a.com", False),
        ("https://a.com@evil.net/x.png", "https://a.com", False),
        ("http://a.com/x.png", "https://a.com/", False),
        ("https://A.COM:443/x.png", "https://a.com/", True),
        ("https://a.com/img/x.png", "https://a.com/img", True),
        ("https://a.com/img", "https://a.com/img", True),
        ("https://a.com/img?w=1", "https://a.com/img", True),
        ("https://a.com/images/x.png", "https://a.com/img", False),
        ("https://a.com/img.png", "https://a.com/img", False),
        ("https://a.com/img/x.png", "https://a.com/img/", True),
        ("https://a.com/img", "https://a.com/img/", False),
        ("https://a.com/img/../private/x.png", "https://a.com/img/", False),
        ("https://a.com/img/%2e%2e/private/x.png", "https://a.com/img/", False),
        ("https://a.com/img/./x.png", "https://a.com/img/", True),
        ("https://anything.example/x.png", "https://", True),
        ("http://anything.example/x.png", "https://", False),
        ("https://a.com/x.png", "not a url", False),
    ],
)
def test_prefix_rule(url: str, prefix: str, allowed: bool) -> None:
    assert allowed_by_prefix(url, [prefix]) is allowed


def test_no_prefixes_allow_nothing() -> None:
    assert not allowed_by_prefix("https://a.com/x", [])


def test_any_matching_prefix_allows() -> None:
    prefixes = ["https://b.com/", "https://a.com/img/"]
    assert allowed_by_prefix("https://a.com/img/x", prefixes)
    assert not allowed_by_prefix("https://c.com/img/x", prefixes)


_HOSTS = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True)


@given(_HOSTS, _HOSTS, _PATHS)
def test_a_prefix_never_admits_another_host(allowed: str, other: str, path: str) -> None:
    if allowed != other:
        assert not allowed_by_prefix(f"https://{other}{path}", [f"https://{allowed}"])
