"""The timer frontier: how fast a failover each timer setting buys, and what it costs in false alarms.

    setting = (component, timer): keepalived advert_int, HAProxy check inter, ...
    for each setting, idle and under a CPU stressor:
        failover times of the real fault (ms)       ──▶ median, p95
        spurious failovers in a soak with no fault   ──▶ count (VIP moves, servers marked DOWN)

    frontier(rows)  the settings sorted by timer, with their figures
    fastest_clean   per component: the setting with the lowest failover median among those with
                    zero spurious failovers under stress (the one worth making the tuned profile)

Plain data in, plain data out (the timer_sweep experiment feeds it, tests feed it synthetic
rows); frontier_plot draws failover time against the timer, one line per load, each point
annotated with its spurious count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from experiments.analysis import P95_MIN_N

LOADS = ("idle", "stress")


@dataclass
class Setting:
    """One timer setting under one load: the failover times measured and the spurious count."""

    component: str  # "keepalived" | "haproxy"
    timer_ms: float
    load: str  # "idle" | "stress"
    failover_ms: list[float] = field(default_factory=list)
    spurious: int = 0
    soak_s: float = 0.0

    @property
    def median_ms(self) -> float | None:
        return float(np.median(self.failover_ms)) if self.failover_ms else None

    @property
    def p95_ms(self) -> float | None:
        # Below P95_MIN_N failovers a percentile says nothing the max does not: None.
        return float(np.percentile(self.failover_ms, 95)) if len(self.failover_ms) >= P95_MIN_N else None

    def as_dict(self) -> dict:
        return {"component": self.component, "timer_ms": self.timer_ms, "load": self.load,
                "failover_ms": list(self.failover_ms), "median_ms": self.median_ms, "p95_ms": self.p95_ms,
                "spurious": self.spurious, "soak_s": self.soak_s}


def frontier(settings: list[Setting]) -> dict[str, dict[str, list[Setting]]]:
    """{component: {load: [settings by timer, largest first]}}."""
    out: dict[str, dict[str, list[Setting]]] = {}
    for s in settings:
        if s.load not in LOADS:
            raise ValueError(f"unknown load {s.load!r} (one of {', '.join(LOADS)})")
        out.setdefault(s.component, {}).setdefault(s.load, []).append(s)
    for loads in out.values():
        for rows in loads.values():
            rows.sort(key=lambda s: -s.timer_ms)
    return out


def fastest_clean(settings: list[Setting], load: str = "stress") -> dict[str, Setting | None]:
    """Per component: the measured setting with no spurious failover under `load` and the lowest
    failover median (ties: the larger timer, the cheaper one); None if every setting had some."""
    best: dict[str, Setting | None] = {}
    for component, loads in frontier(settings).items():
        clean = [s for s in loads.get(load, []) if s.spurious == 0 and s.median_ms is not None]
        best[component] = min(clean, key=lambda s: (s.median_ms, -s.timer_ms)) if clean else None
    return best


def frontier_plot(settings: list[Setting], path, title: str):
    """Failover median against the timer (log-log), per component and load; p95 as error bars;
    each point annotated with its spurious-failover count."""
    from experiments.report import _pyplot

    plt = _pyplot()
    data = frontier(settings)
    fig, axes = plt.subplots(1, max(1, len(data)), figsize=(6 * max(1, len(data)), 4.5), squeeze=False)
    for ax, (component, loads) in zip(axes[0], sorted(data.items())):
        for load, style in (("idle", "o-"), ("stress", "s--")):
            rows = [s for s in loads.get(load, []) if s.median_ms is not None]
            if not rows:
                continue
            x = [s.timer_ms for s in rows]
            y = [s.median_ms for s in rows]
            # The bar reaches the p95 where there are 10 failovers or more, else the max.
            top = [s.p95_ms if s.p95_ms is not None else max(s.failover_ms) for s in rows]
            err = [max(0.0, t - s.median_ms) for t, s in zip(top, rows)]
            ax.errorbar(x, y, yerr=[[0] * len(err), err], fmt=style, capsize=3, label=f"{load}")
            for s in rows:  # idle's counts above the points, stress's below: both stay legible
                ax.annotate(f"{s.spurious} false", (s.timer_ms, s.median_ms), textcoords="offset points",
                            xytext=(5, 5 if load == "idle" else -11), fontsize=7,
                            color="crimson" if s.spurious else "gray")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{component} timer (ms)")
        ax.set_ylabel("failover time, median (ms); bar to p95 (max under 10)")
        ax.set_title(component)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
