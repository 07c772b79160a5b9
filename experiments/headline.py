"""Headline figures as people read them: a label, a value and its unit.

    "outage_ms": {"median": 70.6, "p95": 79.8, ...}  ─▶  Figure("outage", "70.6 ms", "p95 79.8 ms, max 80.8 ms, 3 trials")
    "split_brain_seen": False                        ─▶  Figure("split brain seen", "no", "")

The unit comes from the metric's name (its suffix or a word in it), so a new experiment's
metrics get units without a table to edit. Used by the terminal summary (hatestbed/suite.py),
report.html and index.html (experiments/html_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# (how the metric's name ends or what it contains, the unit), first match wins.
UNIT_RULES = (
    ("_ms", "ms"),
    ("_s", "s"),
    ("_chi2_p", "p-value"),
    ("jain", "Jain index"),
    ("_ratio", "×"),
    ("share", "share"),
    ("requests", "requests"),
    ("pings", "pings"),
    ("writes", "writes"),
    ("_lost", "writes"),
    ("acked", "writes"),
    ("rows", "rows"),
    ("difference", "requests"),
    ("faults", "faults"),
    ("spofs", "components"),
    ("disagreements", "components"),
    ("outages", "findings"),
)
# Units written with no space before them.
TIGHT_UNITS = ("×",)


@dataclass(frozen=True)
class Figure:
    label: str   # "outage"
    value: str   # "70.6 ms"
    spread: str  # "p95 79.8 ms, max 80.8 ms, 3 trials" (empty for a single value)


def unit_of(metric: str) -> str:
    for pattern, unit in UNIT_RULES:
        if metric.endswith(pattern) if pattern.startswith("_") else pattern in metric:
            return unit
    return ""


def label_of(metric: str) -> str:
    unit = unit_of(metric)
    name = metric
    for suffix in ("_ms", "_s"):
        if unit == suffix[1:] and name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("_", " ")


def number(value, unit: str = "") -> str:
    """3 significant figures below 1000, whole numbers above; booleans yes/no; None a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (dict, list, tuple)) for v in value):
            return f"{len(value)} items (in summary.json)"
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    elif isinstance(value, int):
        text = str(value)
    else:
        return str(value)
    if not unit or unit in ("share", "Jain index", "p-value"):
        return text
    return f"{text}{unit}" if unit in TIGHT_UNITS else f"{text} {unit}"


def figure(metric: str, value) -> Figure:
    unit = unit_of(metric)
    if unit in label_of(metric).split():  # "failed requests 7", not "failed requests 7 requests"
        unit = ""
    if isinstance(value, dict) and "median" in value:
        spread = ([f"p95 {number(value.get('p95'), unit)}"] if value.get("p95") is not None
                  else [f"min {number(value.get('min'), unit)}"]) + [f"max {number(value.get('max'), unit)}"]
        if value.get("n") is not None:
            spread.append(f"{value['n']} trial{'s' if value['n'] != 1 else ''}")
        return Figure(label_of(metric), number(value["median"], unit), ", ".join(spread))
    return Figure(label_of(metric), number(value, unit), "")


def figures(summary: dict, profile: str, limit: int | None = None) -> list[Figure]:
    """The experiment's headline metrics for one timer profile, in the experiment's order."""
    metrics = (summary.get("metrics") or {}).get(profile) or {}
    keys = [k for k in (summary.get("headline") or sorted(metrics)) if k in metrics]
    return [figure(key, metrics[key]) for key in keys[:limit]]


def short_line(summary: dict, profile: str, width: int, limit: int = 3) -> str:
    """Up to `limit` headline figures in `width` characters: "outage 70.6 ms · failed requests 7 requests".
    Figures that do not fit are left out whole (the report has them all)."""
    parts: list[str] = []
    for f in figures(summary, profile, limit):
        part = f"{f.label} {f.value}"
        if len(" · ".join(parts + [part])) > width:
            break
        parts.append(part)
    return " · ".join(parts) or "–"
