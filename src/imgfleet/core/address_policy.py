"""Which origins an HTTP source may reach: the SSRF address guard and the URL allowlist.

Pure and stdlib-only. Two questions are answered here:

* `is_forbidden(ip)` — may we open a connection to this address? It returns the reason an
  address is refused, or `None`. The tables below are explicit rather than read from
  `ipaddress`'s `is_private`/`is_global`, whose answers change between Python releases.
  IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
  `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, 6to4 `2002:AABB:CCDD::/48` and NAT64 `64:ff9b::/96`)
  are judged by the IPv4 address inside. Cloud metadata endpoints are refused even when
  private networks are allowed: nothing legitimate serves images from them.

* `allowed_by_prefix(url, prefixes)` — is this URL inside one of the configured prefixes?
  Both sides are normalised first (`normalise_url`), then compared as strings with a
  **path-boundary rule**: the URL must equal the prefix, or the prefix must end with "/",
  or the URL must continue with "/" or "?" right after the prefix. A prefix without a path
  (`https://a.com`) is normalised to `https://a.com/`, so it never admits
  `https://a.com.evil.net/` or `https://a.com:8443/`; `https://a.com/img` admits
  `https://a.com/img/x.png` but not `https://a.com/images/x.png`. The bare prefixes
  `http://` and `https://` admit every URL of that scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

__all__ = [
    "ForbiddenReason",
    "allowed_by_prefix",
    "is_forbidden",
    "normalise_url",
]


class ForbiddenReason(StrEnum):
    """Why an address may not be connected to."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    SHARED = "carrier-grade NAT"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    UNIQUE_LOCAL = "unique-local"
    TUNNEL = "tunnel"
    METADATA = "cloud metadata"


_R = ForbiddenReason

# First match wins, so the narrow metadata entries come before the blocks that hold them.
_V4_TABLE: tuple[tuple[IPv4Network, ForbiddenReason], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("169.254.169.254/32", _R.METADATA),  # AWS, GCP, Azure, OpenStack, ...
        ("169.254.170.2/32", _R.METADATA),  # AWS ECS task credentials
        ("169.254.170.23/32", _R.METADATA),  # AWS EKS pod identity
        ("100.100.100.200/32", _R.METADATA),  # Alibaba Cloud
        ("168.63.129.16/32", _R.METADATA),  # Azure wireserver (a public-range address)
        ("0.0.0.0/8", _R.UNSPECIFIED),  # "this network"; 0.0.0.0 reaches the local host
        ("10.0.0.0/8", _R.PRIVATE),
        ("100.64.0.0/10", _R.SHARED),
        ("127.0.0.0/8", _R.LOOPBACK),
        ("169.254.0.0/16", _R.LINK_LOCAL),
        ("172.16.0.0/12", _R.PRIVATE),
        ("192.0.0.0/24", _R.RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", _R.RESERVED),  # documentation
        ("192.88.99.0/24", _R.RESERVED),  # 6to4 relay anycast (deprecated)
        ("192.168.0.0/16", _R.PRIVATE),
        ("198.18.0.0/15", _R.RESERVED),  # benchmarking
        ("198.51.100.0/24", _R.RESERVED),  # documentation
        ("203.0.113.0/24", _R.RESERVED),  # documentation
        ("224.0.0.0/4", _R.MULTICAST),
        ("240.0.0.0/4", _R.RESERVED),  # includes broadcast 255.255.255.255
    )
)

_V6_TABLE: tuple[tuple[IPv6Network, ForbiddenReason], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("fd00:ec2::254/128", _R.METADATA),  # AWS IMDS over IPv6
        ("::/128", _R.UNSPECIFIED),
        ("::1/128", _R.LOOPBACK),
        ("64:ff9b:1::/48", _R.PRIVATE),  # local-use NAT64 (RFC 8215)
        ("100::/64", _R.RESERVED),  # discard-only
        ("2001::/32", _R.TUNNEL),  # Teredo
        ("2001::/23", _R.RESERVED),  # IETF protocol assignments
        ("2001:db8::/32", _R.RESERVED),  # documentation
        ("3fff::/20", _R.RESERVED),  # documentation
        ("fc00::/7", _R.UNIQUE_LOCAL),
        ("fe80::/10", _R.LINK_LOCAL),
        ("fec0::/10", _R.PRIVATE),  # site-local (deprecated)
        ("ff00::/8", _R.MULTICAST),
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_SIIT = IPv6Network("::ffff:0:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")

# Refused even when private networks are allowed.
_ALWAYS_FORBIDDEN = frozenset({_R.METADATA})


def is_forbidden(
    ip: IPv4Address | IPv6Address, *, allow_private_networks: bool = False
) -> ForbiddenReason | None:
    """The reason `ip` must not be connected to, or `None` when it is a public address.

    With `allow_private_networks`, only the reasons that are never acceptable (cloud
    metadata endpoints) are returned.
    """
    reason = _classify(ip)
    if reason is not None and allow_private_networks and reason not in _ALWAYS_FORBIDDEN:
        return None
    return reason


def _classify(ip: IPv4Address | IPv6Address) -> ForbiddenReason | None:
    if isinstance(ip, IPv4Address):
        return _lookup_v4(ip)
    embedded = _embedded_v4(ip)
    if embedded is not None:
        inner = _lookup_v4(embedded)
        if inner is not None or ip not in _IPV4_COMPATIBLE:
            return inner
        return _R.RESERVED  # IPv4-compatible addresses are deprecated (RFC 4291)
    for network, reason in _V6_TABLE:
        if ip in network:
            return reason
    if ip not in _GLOBAL_UNICAST_V6:
        return _R.RESERVED  # everything outside 2000::/3 is unassigned or special
    return None


def _lookup_v4(ip: IPv4Address) -> ForbiddenReason | None:
    for network, reason in _V4_TABLE:
        if ip in network:
            return reason
    return None


def _embedded_v4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the embedding forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _SIIT:
        return low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not "::" nor "::1"
        return low32
    return None


# --- URL allowlist ------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NETLOC = re.compile(r"(?:\[[^\[\]@]+\]|[^\[\]@:]+)(?::[0-9]*)?")  # no user info
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?")
_ESCAPE = re.compile(r"%(.{0,2})", re.DOTALL)
_HEX = re.compile(r"[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCHEME_ONLY = frozenset({"http://", "https://"})


def normalise_url(url: str) -> str | None:
    """The canonical form of an absolute URL, or `None` when it cannot be trusted.

    `scheme://host[:port]/path[?query]`: scheme and host lower-cased, the default port
    dropped, percent-escapes of unreserved characters decoded (so `%2e` is a dot) and the
    others upper-cased, dot segments removed, an empty path written "/", the fragment
    dropped. Refused (`None`): no host, a non-ASCII or oddly spelled host, a bad port,
    user information (`user@host`), a malformed escape, and a path holding a backslash or
    an encoded "/" or "\\" — origins disagree on what those mean.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not parts.scheme or not host or not _NETLOC.fullmatch(parts.netloc):
        return None
    host = _normalise_host(host, bracketed="[" in parts.netloc)
    path = _normalise_path(parts.path)
    if host is None or path is None:
        return None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{path}{query}"


def allowed_by_prefix(url: str, prefixes: Iterable[str]) -> bool:
    """Whether `url` lies inside one of `prefixes` under the path-boundary rule (module doc)."""
    normal = normalise_url(url)
    if normal is None:
        return False
    for prefix in prefixes:
        if prefix.lower() in _SCHEME_ONLY:
            if normal.startswith(prefix.lower()):
                return True
            continue
        normal_prefix = normalise_url(prefix)
        if normal_prefix is not None and _within(normal, normal_prefix):
            return True
    return False


def _within(url: str, prefix: str) -> bool:
    if not url.startswith(prefix):
        return False
    if len(url) == len(prefix) or prefix.endswith("/"):
        return True
    return url[len(prefix)] in "/?"


def _normalise_host(host: str, *, bracketed: bool) -> str | None:
    if bracketed:  # an IPv6 literal, brackets removed by urlsplit; IPvFuture is refused
        try:
            return f"[{IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if not host.isascii() or not _HOST_NAME.fullmatch(host):
        return None
    return host


def _normalise_path(path: str) -> str | None:
    decoded = _decode_unreserved(path)
    if decoded is None or "\\" in decoded or "%2F" in decoded or "%5C" in decoded:
        return None
    return _remove_dot_segments(decoded) or "/"


def _decode_unreserved(text: str) -> str | None:
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        digits = match.group(1)
        if not _HEX.fullmatch(digits):
            malformed = True
            return match.group(0)
        char = chr(int(digits, 16))
        return char if char in _UNRESERVED else f"%{digits.upper()}"

    decoded = _ESCAPE.sub(replace, text)
    return None if malformed else decoded


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on a path that starts with "/" (or is empty)."""
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        else:
            output.append(segment)
    return "".join(f"/{segment}" for segment in output)
