"""Results on disk: one folder per run, machine-readable and human-readable.

    results/
      20260101T120000Z-vip_failover/
        summary.json        validated against SUMMARY_SCHEMA before it is written
        requests-*.csv      the probes' rows (write_requests_csv)
        timeline.png        latency of every request around the fault, daemon events marked
        distribution.png    requests per server against the expected split
        report.md           headline metrics, trials, plots, timers, seed, versions
        report.html         the same, self-contained, with the topology picture (html_report.py)
      20260101T120500Z-all/
        index.md, index.json   one line per experiment run by `--experiment all`
        index.html             the same, linking each report.html (experiments/html_report.py)

Plots use matplotlib's Agg back end: no display needed, works as root in CI.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import jsonschema

from experiments import plot_queue
from experiments.html_report import local_time, write_index_html
from experiments.probe_client import FIELDS
from topo.errors import TestbedError

SUMMARY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["experiment", "started", "finished", "seed", "trials", "metrics", "topology",
                 "timers", "versions", "status"],
    "properties": {
        "experiment": {"type": "string", "minLength": 1},
        # ISO 8601 text or unix seconds
        "started": {"type": ["string", "number"]},
        "finished": {"type": ["string", "number"]},
        "seed": {"type": ["integer", "null"]},
        # Per timer profile ("tuned", "stock", or "as-running" from the CLI): the trials' results
        # and the metrics over them.
        "trials": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "array", "items": {"type": "object"}}},
        "metrics": {"type": "object", "additionalProperties": {"type": "object"}},
        "topology": {"type": "object"},
        "timers": {"type": "object"},
        "versions": {"type": "object"},
        "status": {"enum": ["passed", "failed", "error"]},
    },
}


class SummaryError(TestbedError):
    """A summary does not match SUMMARY_SCHEMA; nothing was written."""


# -- folders and files ------------------------------------------------------------------------------
def results_dir(root: Path | str, experiment: str, when: datetime | float | None = None) -> Path:
    """Create and return root/<UTC YYYYmmddTHHMMSSZ>-<experiment>/ (suffix -2, -3... if taken)."""
    if when is None:
        when = datetime.now(timezone.utc)
    elif not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, timezone.utc)
    base = f"{when.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{experiment}"
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{root / base}: 99 runs with that name already exist")


def write_requests_csv(path: Path | str, requests: Iterable) -> Path:
    """The same columns as the probe's own CSV (probes.read_requests reads both)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for r in sorted(requests, key=lambda r: r.seq):
            writer.writerow([r.seq, f"{r.sent:.6f}", f"{r.done:.6f}", r.status, r.error, r.served_by, r.id])
    return path


def validate_summary(summary: dict) -> None:
    try:
        jsonschema.validate(summary, SUMMARY_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "summary"
        raise SummaryError(f"{where}: {exc.message}") from None


def write_summary(directory: Path | str, summary: dict) -> Path:
    """Write summary.json (indent 2) after validating it; NaN/inf become null, paths text."""
    data = json.loads(json.dumps(_clean(summary), default=str, allow_nan=False))
    validate_summary(data)
    path = Path(directory) / "summary.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _clean(value):
    """JSON has no NaN: a p-value of NaN (say) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# -- plots ------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def timeline_plot(requests: Sequence, fault_time: float, events: Sequence[tuple[float, str]], path: Path | str,
                  title: str, outage: dict | None = None) -> Path:
    """The timeline PNG at `path`, drawn now or after the run (experiments/plot_queue.py)."""
    return plot_queue.submit(_draw_timeline, path, list(requests), fault_time, list(events), title, outage)


def _draw_timeline(path: Path | str, requests: Sequence, fault_time: float, events: Sequence[tuple[float, str]],
                   title: str, outage: dict | None = None) -> Path:
    """One marker per request: x = send time relative to the fault (ms), y = latency (ms, log).

    Two panels: the whole probe run on top, and below a zoom on the fault (the outage window
    from analysis.outage() plus margins, shaded; or -0.5 s..+1 s without one). The fault is a
    solid vertical line at 0, daemon events (time, label) dashed lines, labelled in the zoom.
    Events outside the probe's span are left out (they would only squash the requests).
    """
    plt = _pyplot()
    from matplotlib.transforms import blended_transform_factory

    rel = lambda t: (t - fault_time) * 1000  # noqa: E731
    sends = [rel(r.sent) for r in requests] or [0.0]
    span = (min(sends + [0.0]), max(sends + [0.0]))
    failed_window = outage and not outage.get("no_failure") and outage.get("first_failure_t") is not None
    if failed_window:
        end = outage["recovered_t"] if outage.get("recovered_t") is not None else outage["last_failure_t"]
        shade = (rel(outage["first_failure_t"]), rel(end))
        zoom = (min(shade[0], 0.0) - 250, shade[1] + 250)
    else:
        shade, zoom = None, (-500.0, 1000.0)
    shown = [(rel(w), label) for w, label in sorted(events) if span[0] <= rel(w) <= span[1]]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), height_ratios=[1, 1.4])
    try:
        for ax, limits, labelled in ((top, None, False), (bottom, zoom, True)):
            for ok, color, marker, name in ((True, "tab:green", ".", "ok"), (False, "tab:red", "x", "failed")):
                chosen = [r for r in requests if r.ok == ok
                          and (limits is None or limits[0] <= rel(r.sent) <= limits[1])]
                if chosen:
                    ax.scatter([rel(r.sent) for r in chosen], [max((r.done - r.sent) * 1000, 0.01) for r in chosen],
                               s=10 if limits is None else 16, c=color, marker=marker, linewidths=0.8,
                               label=f"{name} ({len(chosen)})")
            if shade:
                ax.axvspan(*shade, color="tab:red", alpha=0.1, label=f"outage {outage['outage_ms']:.0f} ms, "
                           f"{outage['failed_requests']} failed")
            ax.axvline(0, color="black", linewidth=1.2, label="fault")
            along_x = blended_transform_factory(ax.transData, ax.transAxes)
            for i, (x, label) in enumerate(shown):
                if limits is not None and not limits[0] <= x <= limits[1]:
                    continue
                ax.axvline(x, color="tab:blue", linestyle="--", linewidth=0.8)
                if labelled:  # staggered heights: close events must not print over each other
                    ax.text(x, 0.97 - 0.09 * (i % 4), f" {label}", transform=along_x, va="top", ha="left",
                            fontsize=7, color="tab:blue", bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
            ax.set_yscale("log")
            if limits is not None:
                ax.set_xlim(*limits)
            ax.grid(True, which="both", alpha=0.25)
            ax.set_ylabel("latency (ms)")
            ax.legend(loc="lower right", fontsize=7)
        top.set_title(f"{title}: whole run")
        bottom.set_title("around the fault")
        bottom.set_xlabel("send time relative to the fault (ms); latency = connect to last byte")
        # Fixed margins, not tight_layout(): it measured every log-scale tick label again and
        # took 40 % of the ~0.9 s a timeline costs (a suite draws dozens).
        fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.07, hspace=0.28)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)


def distribution_plot(counts: dict[str, int], expected: dict[str, float], path: Path | str, title: str) -> Path:
    """The distribution PNG at `path`, drawn now or after the run (experiments/plot_queue.py)."""
    return plot_queue.submit(_draw_distribution, path, dict(counts), dict(expected), title)


def _draw_distribution(path: Path | str, counts: dict[str, int], expected: dict[str, float], title: str) -> Path:
    """Bars: requests per server; black ticks: the expected count (expected share x total)."""
    plt = _pyplot()
    servers = sorted(set(counts) | set(expected))
    total = sum(counts.values())
    weight = sum(expected.values()) or 1.0
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(servers) + 2), 4))
    try:
        bars = ax.bar(servers, [counts.get(s, 0) for s in servers],
                      color=["tab:blue" if expected.get(s, 0) > 0 else "tab:orange" for s in servers])
        ax.bar_label(bars, fontsize=8, padding=6)  # above the expected tick
        ax.scatter(servers, [expected.get(s, 0) / weight * total for s in servers], marker="_", s=600,
                   color="black", label="expected", zorder=3)
        ax.set_ylabel("requests served")
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)


# -- human report -----------------------------------------------------------------------------------
def _scalars(mapping: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Flatten nested dicts to (dotted key, scalar) rows; lists are summarized by their length."""
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _scalars(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            rows.append((name, f"{len(value)} items"))
        else:
            rows.append((name, value))
    return rows


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def headline_value(value) -> object:
    """A summarize() dict reads as "median (p95, max)", or "median (min, max)" under 10 values;
    anything else as itself."""
    if isinstance(value, dict) and "median" in value:
        low = f"p95 {_fmt(value.get('p95'))}" if value.get("p95") is not None else f"min {_fmt(value.get('min'))}"
        return f"{_fmt(value.get('median'))} ({low}, max {_fmt(value.get('max'))}, n {value.get('n')})"
    return value


def headline_rows(summary: dict) -> tuple[list[str], list[list]]:
    """Headline metrics side by side per timer profile: (profiles, rows of [metric, value per profile])."""
    metrics = summary.get("metrics") or {}
    profiles = list(metrics)
    keys = summary.get("headline") or sorted({k for m in metrics.values() for k in m})
    rows = [[key] + [headline_value(metrics[p].get(key)) for p in profiles] for key in keys]
    return profiles, rows


def write_report_md(directory: Path | str, summary: dict, plots: Sequence[Path | str] = ()) -> Path:
    directory = Path(directory)
    lines = [f"# {summary['experiment']}: {summary['status'].upper()}", "",
             f"Started {local_time(summary['started'])}, finished {local_time(summary['finished'])} (local time); "
             f"seed {summary.get('seed')}; "
             f"topology {summary.get('topology', {}).get('name', '?')}.", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    profiles, rows = headline_rows(summary)
    lines += ["## Headline metrics (per timer profile)", ""]
    lines += markdown_table(["metric"] + profiles, rows)
    for profile in profiles:
        lines += ["", f"## All metrics: {profile} timers", ""]
        lines += markdown_table(["metric", "value"], [list(row) for row in _scalars(summary["metrics"][profile])])
        trials = (summary.get("trials") or {}).get(profile) or []
        if trials:
            columns: list[str] = []
            for trial in trials:
                columns += [k for k, v in trial.items()
                            if k not in columns and k != "traceback" and not isinstance(v, (dict, list))]
            lines += ["", f"### Trials: {profile} timers", ""]
            lines += markdown_table(columns, [[t.get(c) for c in columns] for t in trials])
    if plots:
        lines += ["", "## Plots", ""]
        for plot in plots:
            rel = Path(os.path.relpath(plot, directory)) if Path(plot).is_absolute() else Path(plot)
            lines += [f"![{rel.stem}]({rel.as_posix()})", ""]
    lines += ["", "## Timers", ""]
    lines += markdown_table(["timer", "value"], [list(row) for row in _scalars(summary.get("timers", {}))])
    lines += ["", "## Versions", ""]
    lines += markdown_table(["component", "version"], [list(row) for row in _scalars(summary.get("versions", {}))])
    lines += ["", f"Raw data: `summary.json` and the CSV files beside this report. Seed: {summary.get('seed')}.", ""]
    path = directory / "report.md"
    path.write_text("\n".join(lines))
    return path


def write_index(root: Path | str, runs: Sequence[tuple[str, Path, dict]], when=None) -> Path:
    """results/<ts>-all/index.md + index.json: each experiment's status, folder and headline metrics
    per timer profile."""
    directory = results_dir(root, "all", when)
    entries = []
    for name, run_dir, summary in runs:
        profiles, rows = headline_rows(summary)
        headline = {p: {row[0]: row[1 + i] for row in rows} for i, p in enumerate(profiles)}
        entries.append({"experiment": name, "status": summary.get("status"),
                        "dir": Path(os.path.relpath(run_dir, directory)).as_posix(), "headline": headline})
    (directory / "index.json").write_text(json.dumps(_clean({"runs": entries}), indent=2, default=str) + "\n")
    lines = ["# All experiments", ""]
    lines += ["| experiment | timers | status | headline metrics | report |", "|---|---|---|---|---|"]
    for e in entries:
        for profile, values in e["headline"].items():
            shown = "; ".join(f"{k} = {_fmt(v)}" for k, v in values.items()) or "–"
            lines.append(f"| {e['experiment']} | {profile} | {e['status']} | {shown} | "
                         f"[{Path(e['dir']).name}]({e['dir']}/report.md) |")
    (directory / "index.md").write_text("\n".join(lines) + "\n")
    write_index_html(directory, runs)
    return directory


# -- versions ---------------------------------------------------------------------------------------
# program → (argv, pattern of the version in its output)
VERSION_COMMANDS = {
    "haproxy": (["haproxy", "-v"], r"HAProxy version (\S+)"),
    "keepalived": (["keepalived", "--version"], r"Keepalived v(\S+)"),
    "mariadbd": (["mariadbd", "--version"], r"Ver (\S+)"),
    "nginx": (["nginx", "-v"], r"nginx/(\S+)"),
    "prometheus": (["prometheus", "--version"], r"version (\S+)"),
    "openvswitch": (["ovs-vswitchd", "--version"], r"\(Open vSwitch\) (\S+)"),
}


def daemon_versions(testbed=None) -> dict:
    """Versions of the daemons and libraries a run used; None for anything missing.

    Every host shares the machine's filesystem, so the root namespace sees the same binaries;
    `testbed` is accepted so callers can pass what they have, and is not needed.
    """
    versions: dict[str, str | None] = {}
    for name, (argv, pattern) in VERSION_COMMANDS.items():
        versions[name] = None
        if shutil.which(argv[0]) is None:
            continue
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(pattern, proc.stdout + proc.stderr)
        versions[name] = match.group(1) if match else None
    try:
        from importlib.metadata import version

        versions["os-ken"] = version("os-ken")
    except Exception:
        versions["os-ken"] = None
    try:
        from mininet.net import VERSION

        versions["mininet"] = VERSION
    except Exception:
        versions["mininet"] = None
    versions["python"] = platform.python_version()
    return versions
