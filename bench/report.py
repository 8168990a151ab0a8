"""What is made of a comparison run: its JSON, the Markdown results, the chart, the docs.

bench/results/ keeps the latest run of each mode, each replacing the one before:
latest.{json,md,png} (full; with latest-profile.json), latest-quick.* and latest-custom.*
(a run whose plan was changed on the command line); bench/history.py keeps a row per run.

Pure: the headline facts (`facts`), the Markdown results file and the generated block of
docs/performance.md. Effectful: `chart` (matplotlib, Agg) and `write`.

    .venv/bin/python -m bench.report bench/results/latest.json   # redraw .md and .png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import targets
from bench.records import (
    Run,
    best_ceiling,
    best_cells,
    family,
    from_json,
    processes,
    to_json,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SOAK_NAME = "latest-soak"  # bench/soak.py's files, read for the soak's line
DOCS_FILE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
DOCS_BEGIN, DOCS_END = "<!-- results:begin -->", "<!-- results:end -->"
HEADLINE_WORKLOAD, HEADLINE_CONCURRENCY = "fit512-jpeg", 2
PEER_FAMILIES = ("imgfleet", "thumbor", "ipx")  # the rendering servers, in table order
# How a run ordered its measurements (the run's method "order"; older runs: server by server).
ORDER = {
    "server by server": "one server after the other, every workload each, the ceiling last",
    "workload by workload": (
        "workload by workload: every server in turn (each workload starting with the next "
        "server), the raw-library ceiling right after"
    ),
    "window by window": (
        "workload by workload, every server of it started, then per concurrency the "
        "measured windows going round the servers (each round starting with the next), the "
        "raw-library ceiling right after"
    ),
    "window by window, ceiling too": (
        "workload by workload, every server of it started, then per concurrency the "
        "measured windows going round the servers, and at c = 2 round the raw libraries "
        "too (each round starting with the next)"
    ),
}
SHARED_CORES = "wrk runs on the same {cores} cores as the servers, so it takes CPU from them"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def results_name(mode: str) -> str:
    """The file name, without extension, of a run in `mode`: the latest of its mode."""
    return "latest" if mode == "full" else f"latest-{mode}"


def facts(run: Run, results_file: str) -> dict[str, Any]:
    """The headline cell's ratios and per-server facts (a run JSON's "facts")."""
    best = best_cells(run.cells)
    w, c = HEADLINE_WORKLOAD, HEADLINE_CONCURRENCY
    head = {f: best[(f, w, c)] for f in PEER_FAMILIES if (f, w, c) in best}
    rate = {f: cell.summary.rate for f, cell in head.items()}
    ceiling = best_ceiling(run.ceilings, w)
    hits = {cell.family: cell.summary for cell in run.hits}
    peak: dict[str, float] = {}
    for cell in run.cells:
        peak[cell.family] = max(peak.get(cell.family, 0.0), cell.summary.peak_rss_mb)
    ssim: dict[str, float | None] = {f: cell.ssim for f, cell in head.items()}
    ssim |= {f"ceiling-{x.library}": x.ssim for x in run.ceilings if x.workload == w}
    return {
        "date": run.started[:10],
        "host": run.host,
        "mode": run.mode,
        "results": results_file,
        "headline": {"workload": w, "label": run.workloads.get(w, w), "concurrency": c},
        "imgfleet_over_thumbor": ratio(rate.get("imgfleet"), rate.get("thumbor")),
        "imgfleet_over_ipx": ratio(rate.get("imgfleet"), rate.get("ipx")),
        "imgfleet_over_ceiling": ratio(rate.get("imgfleet"), ceiling.rate if ceiling else None),
        "ceiling_library": ceiling.library if ceiling else None,
        "hit_over_nginx": ratio(
            hits["imgfleet"].rate if "imgfleet" in hits else None,
            hits["nginx"].rate if "nginx" in hits else None,
        ),
        "req_s": {f: round(r, 1) for f, r in rate.items()}
        | {f"ceiling-{x.library}": round(x.rate, 1) for x in run.ceilings if x.workload == w},
        "p99_ms": {f: round(cell.summary.p99_ms, 1) for f, cell in head.items()},
        "cpu_ms_per_request": {f: round(cell.summary.cpu_ms, 2) for f, cell in head.items()},
        "thumbor_processes": processes(head["thumbor"].server) if "thumbor" in head else None,
        "peak_rss_mb": {f: round(mb) for f, mb in peak.items()},
        "ssim": {f: None if s is None else round(s, 4) for f, s in ssim.items()},
        "hit": {f: {"req_s": round(s.rate), "p99_ms": round(s.p99_ms, 2)} for f, s in hits.items()},
        "note": SHARED_CORES.format(cores=run.cores) + f" ({run.method.get('wrk_threads', 1)}"
        " wrk thread, closed loop)",
    }


# --- Markdown ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:,.1f}"


def _server_label(server: str) -> str:
    count = processes(server)
    return (
        f"{family(server)} ({count})" if count and family(server) != "imgfleet" else family(server)
    )


def headline_table(run: Run) -> list[str]:
    w, c = HEADLINE_WORKLOAD, HEADLINE_CONCURRENCY
    best = best_cells(run.cells)
    rows = [
        "| server | req/s | p99 ms | CPU ms/req | SSIM | mean KB |",
        "|---|---|---|---|---|---|",
    ]
    for f in PEER_FAMILIES:
        cell = best.get((f, w, c))
        if cell is not None:
            s = cell.summary
            rows.append(
                f"| {_server_label(cell.server)} | {s.rate:.1f} | {s.p99_ms:.1f} | "
                f"{s.cpu_ms:.1f} | {_num(cell.ssim, 4)} | {_kb(cell.mean_bytes)} |"
            )
    for x in (x for x in run.ceilings if x.workload == w):
        rows.append(
            f"| raw {x.library} ({x.workers} workers, no HTTP) | {x.rate:.1f} | - | - | "
            f"{_num(x.ssim, 4)} | {_kb(x.mean_bytes)} |"
        )
    return rows


def ratios_lines(facts: Mapping[str, Any]) -> list[str]:
    names = {
        "imgfleet_over_thumbor": "imgfleet / thumbor",
        "imgfleet_over_ipx": "imgfleet / ipx",
        "imgfleet_over_ceiling": f"imgfleet / raw {facts.get('ceiling_library') or 'library'}",
        "hit_over_nginx": "hit path: imgfleet / nginx",
    }
    return [f"- {label}: **{_num(facts.get(key), 2)}x**" for key, label in names.items()]


def workload_table(run: Run, workload: str) -> list[str]:
    rows = [
        "| server | c | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req | peak RSS MB "
        "| mean KB | SSIM |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    best = best_cells(run.cells)
    for f in PEER_FAMILIES:
        for c in sorted({k[2] for k in best if k[:2] == (f, workload)}):
            cell = best[(f, workload, c)]
            s = cell.summary
            flag = " (capped)" if s.capped else ""
            rows.append(
                f"| {_server_label(cell.server)} | {c} | {s.rate:.1f}{flag} | {s.p50_ms:.1f} | "
                f"{s.p95_ms:.1f} | {s.p99_ms:.1f} | {s.errors} | {s.cpu_ms:.1f} | "
                f"{s.peak_rss_mb:.0f} | {_kb(cell.mean_bytes)} | {_num(cell.ssim, 4)} |"
            )
    for x in (x for x in run.ceilings if x.workload == workload):
        rows.append(
            f"| raw {x.library} | {x.workers} workers | {x.rate:.1f} | | | | | | | "
            f"{_kb(x.mean_bytes)} | {_num(x.ssim, 4)} |"
        )
    return rows


def thumbor_table(run: Run) -> list[str]:
    """req/s of every thumbor configuration, so "best of" can be checked."""
    configs = sorted({c.server for c in run.cells if c.family == "thumbor"})
    if len(configs) < 2:
        return []
    table: dict[tuple[str, int], dict[str, float]] = {}
    for cell in run.cells:
        if cell.family == "thumbor":
            table.setdefault((cell.workload, cell.concurrency), {})[cell.server] = cell.summary.rate
    rows = [
        "| workload | c | " + " | ".join(configs) + " |",
        "|---|---|" + "---|" * len(configs),
    ]
    for (workload, c), rates in table.items():
        rows.append(
            f"| {workload} | {c} | " + " | ".join(_num(rates.get(s)) for s in configs) + " |"
        )
    return rows


def hit_table(run: Run) -> list[str]:
    if not run.hits:
        return []
    rows = [
        "| server | c | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in run.hits:
        s = cell.summary
        rows.append(
            f"| {_server_label(cell.server)} | {cell.concurrency} | {s.rate:,.0f} | "
            f"{s.p50_ms:.2f} | {s.p95_ms:.2f} | {s.p99_ms:.2f} | {s.errors} | {s.cpu_ms:.3f} | "
            f"{s.peak_rss_mb:.0f} |"
        )
    return rows


def markdown(
    run: Run,
    facts: Mapping[str, Any],
    chart_name: str | None,
    profile: Mapping[str, Any] | None = None,
) -> str:
    m = run.method
    order = m.get("order", "server by server")
    lines = [
        f"# imgfleet vs thumbor, ipx and the raw libraries: {run.started[:16]} UTC ({run.mode})",
        "",
        "```",
        run.command,
        "```",
        "",
        *(f"- {label}: {text}" for label, text in run.environment.items()),
        f"- **{SHARED_CORES.format(cores=run.cores)}** ({m.get('wrk_threads', 1)} wrk thread, "
        "closed loop: each connection sends its next request when the last one is answered).",
        f"- method: every request a distinct URL (image x cachebuster); {ORDER[order]}; "
        f"per server and workload a fresh server process, {m.get('warmup')} s warm-up, then "
        "per concurrency "
        f"{m.get('repetitions')} x {m.get('seconds')} s measured windows, median reported "
        "(errors summed, RSS max). Output bytes and SSIM from one fetch per input image, "
        "outside the timed windows (the output does not depend on the concurrency). "
        "req/s counts 2xx responses only; a server that refuses (503) shows it under errors, "
        "its latency percentiles include the refusals, and its CPU-ms/req is per 2xx response.",
        "",
        f"## Headline: {run.workloads.get(HEADLINE_WORKLOAD, HEADLINE_WORKLOAD)}, "
        f"c = {HEADLINE_CONCURRENCY}",
        "",
        *headline_table(run),
        "",
        *ratios_lines(facts),
        f"- peak RSS over the run, MB: {facts.get('peak_rss_mb')}",
    ]
    if chart_name:
        lines += ["", f"![req/s and p99 per server and concurrency]({chart_name})"]
    if run.mode == "full":
        source = " and `python -m bench.profile`" if profile else ""
        lines += ["", f"## Targets (issue 3), judged on this run{source}", ""]
        lines += targets.markdown(targets.targets(run, facts.get("soak"), profile))
    if run.hits:
        c = run.hits[0].concurrency
        lines += ["", f"## Cache-hit path: one hot rendition vs nginx serving its bytes, c = {c}"]
        lines += ["", *hit_table(run)]
    for name, label in run.workloads.items():
        lines += ["", f"## {label}", "", *workload_table(run, name)]
    thumbor = thumbor_table(run)
    if thumbor:
        lines += ["", "## thumbor: req/s by process count (the tables show the better)", ""]
        lines += thumbor
    if run.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in run.notes)]
    return "\n".join(lines) + "\n"


def docs_block(run: Run, facts: Mapping[str, Any], results_name: str) -> str:
    """The generated part of docs/performance.md: headline and one line per workload at c=2."""
    c = HEADLINE_CONCURRENCY
    best = best_cells(run.cells)
    libraries = sorted({x.library for x in run.ceilings})
    head = "| workload (c = 2; req/s, SSIM) | " + " | ".join(PEER_FAMILIES)
    head += "".join(f" | raw {lib}" for lib in libraries) + " |"
    rows = [head, "|---" * (1 + len(PEER_FAMILIES) + len(libraries)) + "|"]
    for name, label in run.workloads.items():
        cells = [best.get((f, name, c)) for f in PEER_FAMILIES]
        parts = ["-" if x is None else f"{x.summary.rate:.1f} · {_num(x.ssim, 3)}" for x in cells]
        for lib in libraries:
            found = [x for x in run.ceilings if x.workload == name and x.library == lib]
            parts.append(f"{found[0].rate:.1f} · {_num(found[0].ssim, 3)}" if found else "-")
        rows.append(f"| {label} | " + " | ".join(parts) + " |")
    return "\n".join(
        [
            DOCS_BEGIN,
            f"Latest full run: {run.started[:10]} on {run.host} "
            f"([results](../bench/results/{results_name})); "
            f"{SHARED_CORES.format(cores=run.cores)}.",
            "",
            *headline_table(run),
            "",
            *ratios_lines(facts),
            f"- peak RSS over the run, MB: {facts.get('peak_rss_mb')}",
            *soak_lines(facts.get("soak")),
            "",
            *rows,
            DOCS_END,
        ]
    )


def soak_facts(soak: Mapping[str, Any], results_file: str) -> dict[str, Any]:
    """The soak's figures the docs and the targets quote, from its JSON (bench/soak.py)."""
    names = ("workload", "concurrency", "seconds", "drift_pct", "drift_without_cache_pct")
    rss = ("rss_start_mb", "rss_end_mb", "rss_peak_mb")
    return (
        {"results": results_file}
        | {name: soak[name] for name in names}
        | {name: round(soak[name]) for name in rss}
    )


def soak_lines(soak: Mapping[str, Any] | None) -> list[str]:
    """The soak's line for the docs, from a run's facts' "soak" (`soak_facts`)."""
    if not soak:
        return []
    without = soak.get("drift_without_cache_pct")
    more = [] if without is None else [f"{without:+.1f} % without the result cache"]
    return [
        f"- soak ([results](../{soak['results']})): imgfleet, {soak['workload']}, "
        f"c = {soak['concurrency']}, {soak['seconds'] / 60:.0f} min: RSS "
        f"{soak['rss_start_mb']} → {soak['rss_end_mb']} MB (peak {soak['rss_peak_mb']}), "
        f"drift {soak['drift_pct']:+.1f} %" + "".join(f", {m}" for m in more)
    ]


def splice_docs(text: str, block: str) -> str:
    """Replace the generated block of docs/performance.md (or append it)."""
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin == -1 or end < begin:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[:begin] + block + text[end + len(DOCS_END) :]


# --- chart and files ---------------------------------------------------------------------

COLOURS = {"imgfleet": "tab:blue", "thumbor": "tab:orange", "ipx": "tab:green"}


def chart(run: Run, path: Path) -> None:
    """req/s and p99 per server per concurrency, one row per workload (headline first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(run.workloads)
    size = (11, 3.2 * len(names))
    figure, axes = plt.subplots(len(names), 2, figsize=size, squeeze=False, layout="constrained")
    best = best_cells(run.cells)
    for row, name in zip(axes, names, strict=True):
        for f in PEER_FAMILIES:
            points = sorted((k[2], cell) for k, cell in best.items() if k[:2] == (f, name))
            if not points:
                continue
            xs = [c for c, _ in points]
            style = {"color": COLOURS.get(f), "marker": "o", "label": f}
            row[0].plot(xs, [cell.summary.rate for _, cell in points], **style)
            row[1].plot(xs, [cell.summary.p99_ms for _, cell in points], **style)
            refused = [(c, cell.summary.rate) for c, cell in points if cell.summary.errors]
            if refused:  # a cross over a point: some responses were errors (not counted)
                row[0].scatter(*zip(*refused, strict=True), marker="x", s=80, color="red")
        for x, dash in zip(
            (x for x in run.ceilings if x.workload == name), ("--", ":"), strict=False
        ):
            row[0].axhline(x.rate, color="grey", linestyle=dash, label=f"raw {x.library}")
        row[0].set_title(f"{run.workloads[name]}: req/s", fontsize=9)
        row[1].set_title("p99 latency, ms", fontsize=9)
        levels = sorted({k[2] for k in best if k[1] == name})
        for ax in row:
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels, [str(c) for c in levels])
            ax.minorticks_off()
            ax.set_xlabel("concurrency")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    figure.suptitle(
        f"{run.started[:10]} {run.host} ({run.mode}); wrk on the same cores; "
        "red x: the cell also had errors (not counted in req/s)",
        fontsize=10,
    )
    figure.savefig(path, dpi=90)
    plt.close(figure)


@dataclass(frozen=True, slots=True)
class Written:
    markdown: Path
    json: Path
    chart: Path
    facts: dict[str, Any] = field(default_factory=dict)


def write(run: Run, name: str, *, directory: Path = RESULTS_DIR) -> Written:
    """<name>.json (the run, and its headline facts under "facts"), .png and .md in
    `directory`, replacing the files of that name. The soak's figures (`SOAK_NAME`.json)
    and the profile (<name>-profile.json) are read from beside them: both run apart."""
    directory.mkdir(parents=True, exist_ok=True)
    md, js, png = (directory / f"{name}.{ext}" for ext in ("md", "json", "png"))
    found = facts(run, f"bench/results/{md.name}")
    soak = _read(directory / f"{SOAK_NAME}.json")
    if soak is not None:
        found["soak"] = soak_facts(soak, f"bench/results/{SOAK_NAME}.md")
    js.write_text(json.dumps(to_json(run) | {"facts": found}, indent=1) + "\n")
    chart(run, png)
    md.write_text(markdown(run, found, png.name, _read(directory / f"{name}-profile.json")))
    return Written(md, js, png, found)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def refresh_docs(run: Run, written: Written) -> None:
    """Splice the run's block into docs/performance.md."""
    block = docs_block(run, written.facts, written.markdown.name)
    text = DOCS_FILE.read_text() if DOCS_FILE.exists() else ""
    DOCS_FILE.write_text(splice_docs(text, block))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Redraw a run's .md and .png from its .json.")
    parser.add_argument("json_file", type=Path, help="e.g. bench/results/latest.json")
    parser.add_argument("--docs", action="store_true", help="refresh docs/performance.md too")
    args = parser.parse_args(argv)
    run = from_json(json.loads(args.json_file.read_text()))
    written = write(run, args.json_file.stem, directory=args.json_file.parent)
    if args.docs:
        refresh_docs(run, written)
    print(f"wrote {written.markdown}, {written.json}, {written.chart}")


if __name__ == "__main__":
    main()
