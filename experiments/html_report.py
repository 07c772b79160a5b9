"""report.html for one run and index.html for `--experiment all`: self-contained pages that open
from disk with no network (pictures embedded as data: URIs, styles inline).

    results/<time>-lb_failover/
      summary.json  ─┐
      *.png          ├─▶ report.html   headline table with units, plots, topology picture,
      topology.svg  ─┘                 trials, timer settings, daemon versions
    results/<time>-all/
      index.json    ───▶ index.html    one row per experiment × timer profile, links to each report.html

Rendered with Jinja2 (autoescaped) from experiments/templates/; figures are read the same way
the terminal summary reads them (experiments/headline.py).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from experiments import headline
from runtime.text import wall_clock

_pages = Environment(loader=PackageLoader("experiments", "templates"), undefined=StrictUndefined,
                     autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
# Trial fields shown in the trials table (the rest is in summary.json).
TRIAL_SKIP = ("traceback", "journal")


def local_time(t) -> str:
    """A unix time as local date and wall-clock time, to the millisecond (text as it is)."""
    return wall_clock(t, date=True) if isinstance(t, (int, float)) else str(t)


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def data_uri(path: Path) -> str:
    kind = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _records_table(records: list[dict], shown=lambda key, value: True) -> tuple[list[str], list[list[str]]]:
    """Records as (columns, rows of figures): every key some record has and `shown` keeps."""
    columns = list(dict.fromkeys(k for record in records for k, v in record.items() if shown(k, v)))
    return columns, [[headline.figure(c, r[c]).value if c in r else "" for c in columns] for r in records]


def _trials_table(trials: list[dict]) -> tuple[list[str], list[list[str]]]:
    return _records_table(trials, lambda k, v: k not in TRIAL_SKIP and not isinstance(v, (dict, list)))


def _metric_tables(metrics: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Metrics that are lists of records (timer_sweep's cells, spof_sweep's observations) as tables."""
    return [(key, *_records_table(value)) for key, value in sorted(metrics.items())
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)]


def _timer_rows(timers: dict, profiles: list[str]) -> list[tuple[str, list[str]]]:
    """[(setting, its value per profile)] over every setting any profile has."""
    names = sorted({name for p in profiles for name in timers.get(p, {})})
    return [(name, [headline.number(timers.get(p, {}).get(name)) if name in timers.get(p, {}) else "–"
                    for p in profiles]) for name in names]


def write_report_html(directory: Path | str, summary: dict, plots: Sequence[Path] = (),
                      topology_picture: Path | None = None) -> Path:
    """directory/report.html from the run's summary, its plots and its topology picture."""
    directory = Path(directory)
    profiles = list(summary.get("metrics") or {})
    keys = [k for k in (summary.get("headline") or []) if any(k in summary["metrics"][p] for p in profiles)]
    rows = [{"label": headline.label_of(k), "unit": headline.unit_of(k),
             "cells": [headline.figure(k, summary["metrics"][p][k]) if k in summary["metrics"][p] else None
                       for p in profiles]} for k in keys]
    started, finished = summary.get("started"), summary.get("finished")
    page = _pages.get_template("report.html.j2").render(
        summary=summary, profiles=profiles, rows=rows,
        started=local_time(started), finished=local_time(finished),
        took=duration(finished - started) if isinstance(started, (int, float)) and isinstance(finished, (int, float)) else "",
        plots=[{"name": p.stem, "src": data_uri(Path(p))} for p in plots],
        topology={"name": topology_picture.name, "src": data_uri(topology_picture)} if topology_picture else None,
        trials={p: _trials_table((summary.get("trials") or {}).get(p) or []) for p in profiles},
        timers=_timer_rows(summary.get("timers") or {}, profiles),
        versions=sorted((summary.get("versions") or {}).items()),
        all_metrics={p: sorted(summary["metrics"][p]) for p in profiles},
        metric_tables={p: _metric_tables(summary["metrics"][p]) for p in profiles},
        figure=headline.figure)
    path = directory / "report.html"
    path.write_text(page)
    return path


def write_index_html(directory: Path | str, runs: Sequence[tuple[str, Path, dict]]) -> Path:
    """directory/index.html: every run's headline figures per timer profile and a link to its report."""
    directory = Path(directory)
    rows = []
    for name, run_dir, summary in runs:
        link = Path(os.path.relpath(Path(run_dir) / "report.html", directory)).as_posix()
        for profile in summary.get("metrics") or {}:
            rows.append({"experiment": name, "profile": profile, "status": summary.get("status"), "link": link,
                         "figures": headline.figures(summary, profile)})
    started = min((s["started"] for _, _, s in runs if isinstance(s.get("started"), (int, float))), default=None)
    finished = max((s["finished"] for _, _, s in runs if isinstance(s.get("finished"), (int, float))), default=None)
    page = _pages.get_template("index.html.j2").render(
        rows=rows, started=local_time(started) if started else "",
        took=duration(finished - started) if started and finished else "")
    path = directory / "index.html"
    path.write_text(page)
    return path
