"""Issue 3's targets judged on one run: what was asked, what was measured, met or not.

Pure: from a `Run`, the soak's facts and the profile of the same day (`bench/profile.py`) to
rows. A missed target's row says what limits it in the profile's figures, so the claim can
be checked by running that command again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.records import Ceiling, Cell, Run, best_ceiling, best_cells

PEERS = ("thumbor", "ipx")
C = 2  # the concurrency the leads are judged at (the headline's)
SSIM_SLACK = 0.0005  # SSIM printed to 4 places: closer than this counts as equal


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    wanted: str
    measured: str
    met: bool | None  # None: this run did not measure it
    limit: str = ""  # what limits it, when not met


def _lead(best: Mapping[tuple[str, str, int], Cell], workload: str) -> tuple[Cell, Cell] | None:
    """imgfleet's cell and the faster peer's at c = 2."""
    mine = best.get(("imgfleet", workload, C))
    peers = [best[(p, workload, C)] for p in PEERS if (p, workload, C) in best]
    if mine is None or not peers:
        return None
    return mine, max(peers, key=lambda cell: cell.summary.rate)


def _busy(cell: Cell) -> float:
    """Cores the server kept busy: req/s x CPU-s per request."""
    return cell.summary.rate * cell.summary.cpu_ms / 1000


def _split(profile: Mapping[str, Any] | None, workload: str) -> str:
    """'render R CPU-ms = decode D + encode E + the rest' from the profile, or ''."""
    p = (profile or {}).get("workloads", {}).get(workload)
    if not p:
        return ""
    rest = p["render_ms"] - p["decode_ms"] - p["encode_ms"]
    text = (
        f"profile: one miss through the service, in-process without HTTP, takes "
        f"{p['render_ms']:.1f} CPU-ms, decoding "
        f"{p['decode_ms']:.1f} ({100 * p['decode_ms'] / p['render_ms']:.0f} %) and encoding "
        f"{p['encode_ms']:.1f} of it, in the codec libraries the peers call too (libjpeg-turbo, "
        "libspng/zlib, libwebp, libaom); "
    )
    if rest < 0:  # three medians taken apart: noise can make the parts exceed the whole
        return text + "the parts, measured apart, add up to more than the whole: noise"
    return text + f"resize, pipeline, the service and Python are the other {rest:.1f}"


def _threads(profile: Mapping[str, Any] | None) -> str:
    """The engine's own parallelism without a server, threads vs processes, from the profile."""
    p = (profile or {}).get("workloads", {}).get("fit512-jpeg", {})
    if "threads_cores_busy" not in p:
        return ""
    text = (
        f" (without HTTP, the service with a render thread per core keeps "
        f"{p['threads_cores_busy']:.2f} cores busy on the headline, "
        f"{p['threads_renders_s']:.0f} renders/s"
    )
    if "processes_renders_s" in p:
        text += (
            f"; one process per core, each its own service with one render worker, "
            f"{p['processes_cores_busy']:.2f} cores, {p['processes_renders_s']:.0f} renders/s: "
            "libvips in the threads of one process gives up the difference; the server adds "
            "HTTP, and wrk on the same cores"
        )
    return text + ")"


def _outputs(mine: Cell, peer: Cell) -> str:
    """Both servers' mean output and SSIM when the SSIMs differ: not quite the same work."""
    a, b = mine, peer
    if a.mean_bytes is None or b.mean_bytes is None or a.ssim is None or b.ssim is None:
        return ""
    if abs(a.ssim - b.ssim) < SSIM_SLACK:
        return ""
    return (
        f"the outputs differ: imgfleet {a.mean_bytes / 1024:.1f} KB at SSIM {a.ssim:.4f}, "
        f"{b.family} {b.mean_bytes / 1024:.1f} KB at SSIM {b.ssim:.4f}; "
    )


def _out_of_reach(ceilings: Iterable[Ceiling], workload: str, wanted: float, peer: Cell) -> str:
    """Why a lead cannot be had on this machine, when the raw libraries cannot reach it."""
    ceiling = best_ceiling(ceilings, workload)
    needed = wanted * peer.summary.rate
    if wanted <= 1 or ceiling is None or needed <= ceiling.rate:
        return ""
    return (
        f"out of reach here: {wanted:.2f}x {peer.family} is {needed:.1f} req/s, above the "
        f"faster raw library's {ceiling.rate:.1f} img/s (raw {ceiling.library}, in-process, "
        "no HTTP); "
    )


def _lead_target(
    best: Mapping[tuple[str, str, int], Cell],
    ceilings: Iterable[Ceiling],
    profile: Mapping[str, Any] | None,
    workload: str,
    label: str,
    wanted: float,
) -> Target:
    found = _lead(best, workload)
    if found is None:
        return Target(label, f">= {wanted:.2f}x the faster peer", "-", None)
    mine, peer = found
    ratio = mine.summary.rate / peer.summary.rate
    met = ratio >= wanted
    limit = _out_of_reach(ceilings, workload, wanted, peer) + (
        f"CPU per request and cores kept busy: imgfleet {mine.summary.cpu_ms:.1f} ms, "
        f"{_busy(mine):.2f} cores; {peer.family} {peer.summary.cpu_ms:.1f} ms, "
        f"{_busy(peer):.2f} cores{_threads(profile)}; "
        + _outputs(mine, peer)
        + _split(profile, workload)
    )
    return Target(
        label,
        f">= {wanted:.2f}x the faster peer" if wanted > 1 else "ahead of both peers",
        f"{ratio:.2f}x {peer.family}",
        met,
        "" if met else limit.rstrip("; "),
    )


def _bytes_target(best: Mapping[tuple[str, str, int], Cell], run: Run) -> Target:
    """imgfleet's mean bytes no larger than any peer's that looks at least as good."""
    misses = []
    for workload in run.workloads:
        mine = best.get(("imgfleet", workload, C))
        if mine is None or mine.mean_bytes is None or mine.ssim is None:
            continue
        for peer in PEERS:
            other = best.get((peer, workload, C))
            if other is None or other.mean_bytes is None or other.ssim is None:
                continue
            as_good = other.ssim >= mine.ssim - SSIM_SLACK
            if as_good and other.mean_bytes < mine.mean_bytes:
                larger = 100 * (mine.mean_bytes / other.mean_bytes - 1)
                misses.append(
                    f"{workload}: {larger:+.2f} % vs {peer} "
                    f"(SSIM {mine.ssim:.4f} vs {other.ssim:.4f})"
                )
    return Target(
        "bytes at equal SSIM",
        "no larger than the smallest peer's, every workload",
        "; ".join(misses) or "none larger",
        not misses,
        "PNG: the same level 6 and adaptive filters, but thumbor's Pillow deflates with classic "
        "zlib under Z_FILTERED, a little tighter than zlib-ng (which imgfleet and libvips use) "
        "and three times slower"
        if any(m.startswith("fit512-png") for m in misses)
        else "",
    )


def targets(
    run: Run, soak: Mapping[str, Any] | None = None, profile: Mapping[str, Any] | None = None
) -> list[Target]:
    best = best_cells(run.cells)
    rows = [
        _lead_target(
            best, run.ceilings, profile, "fit512-jpeg", "M JPEG fit 512, c = 2: lead", 1.2
        ),
    ]
    head = best.get(("imgfleet", "fit512-jpeg", C))
    if head is not None:
        s = head.summary
        peers_ssim = [
            best[(p, "fit512-jpeg", C)].ssim for p in PEERS if (p, "fit512-jpeg", C) in best
        ]
        ssim_ok = head.ssim is not None and all(
            x is None or head.ssim >= x - SSIM_SLACK for x in peers_ssim
        )
        ceiling = best_ceiling(run.ceilings, "fit512-jpeg")
        rows += [
            Target(
                "M JPEG fit 512: SSIM",
                "no lower than the peers'",
                f"{head.ssim:.4f} vs " + ", ".join(f"{x:.4f}" for x in peers_ssim if x)
                if head.ssim is not None
                else "-",
                ssim_ok,
            ),
            Target(
                "M JPEG fit 512: vs the faster raw library",
                ">= 0.90x",
                f"{s.rate / ceiling.rate:.2f}x raw {ceiling.library}" if ceiling else "-",
                None if ceiling is None else s.rate / ceiling.rate >= 0.9,
            ),
            Target(
                "M JPEG fit 512: CPU per request", "<= 25 ms", f"{s.cpu_ms:.1f} ms", s.cpu_ms <= 25
            ),
            Target("M JPEG fit 512: p99", "<= 80 ms", f"{s.p99_ms:.1f} ms", s.p99_ms <= 80),
        ]
    rows += [
        _lead_target(
            best, run.ceilings, profile, "fit512-jpeg-l", "L JPEG fit 512, c = 2: lead", 1.2
        ),
        _lead_target(
            best, run.ceilings, profile, "fill300x200-jpeg", "M JPEG fill 300x200, c = 2: lead", 1.2
        ),
        _lead_target(
            best,
            run.ceilings,
            profile,
            "fill300x200-jpeg-l",
            "L JPEG fill 300x200, c = 2: lead",
            1.2,
        ),
        _lead_target(best, run.ceilings, profile, "fit512-webp", "WebP, c = 2", 1.0),
        _lead_target(best, run.ceilings, profile, "fit512-png", "PNG, c = 2", 1.0),
        _lead_target(best, run.ceilings, profile, "fit512-avif", "AVIF, c = 2", 1.0),
    ]
    large = best.get(("imgfleet", "fit512-jpeg-l", 4))
    rows.append(
        Target(
            "peak RSS, L at c = 4",
            "<= 250 MB",
            f"{large.summary.peak_rss_mb:.0f} MB" if large else "-",
            None if large is None else large.summary.peak_rss_mb <= 250,
        )
    )
    if soak:
        without, drift = soak.get("drift_without_cache_pct"), soak.get("drift_pct")
        rows.append(
            Target(
                "soak drift (L, c = 4, 10 min)",
                "<= 10 % (from the end of a warm-up that fills the result cache)",
                "-"
                if drift is None
                else f"{drift:+.1f} %"
                + ("" if without is None else f" ({without:+.1f} % without the cache's bytes)"),
                None if drift is None else drift <= 10,
            )
        )
    rows.append(_hit_target(run, profile))
    rows.append(_bytes_target(best, run))
    return rows


def _hit_target(run: Run, profile: Mapping[str, Any] | None) -> Target:
    hits = {cell.family: cell.summary for cell in run.hits}
    if "imgfleet" not in hits or "nginx" not in hits:
        return Target("cache hits, c = 16", ">= 0.50x nginx, p99 <= 5 ms", "-", None)
    mine, nginx = hits["imgfleet"], hits["nginx"]
    ratio = mine.rate / nginx.rate
    met = ratio >= 0.5 and mine.p99_ms <= 5
    limit = ""
    if not met and profile and profile.get("app_us_per_hit"):
        limit = (
            f"profile: imgfleet's app takes {profile['app_us_per_hit']:.1f} CPU-µs of the "
            f"{1000 * mine.cpu_ms:.0f} µs a hit costs the server; the rest is uvicorn's "
            "parser, the event loop and the kernel, on one interpreter thread "
            f"(nginx: {1000 * nginx.cpu_ms:.0f} µs, in C, one worker process per core)"
        )
    return Target(
        "cache hits, c = 16",
        ">= 0.50x nginx, p99 <= 5 ms",
        f"{ratio:.2f}x ({mine.rate:,.0f} vs {nginx.rate:,.0f} req/s), p99 {mine.p99_ms:.2f} ms",
        met,
        limit,
    )


def markdown(rows: list[Target]) -> list[str]:
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for t in rows:
        met = "-" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {t.name} | {t.wanted} | {t.measured} | {met} |")
    limits = [f"- {t.name}: {t.limit}" for t in rows if t.met is False and t.limit]
    if limits:
        lines += ["", "What limits the targets not met:", "", *limits]
    return lines
