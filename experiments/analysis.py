"""Metric math on probe timelines: pure functions of recorded requests, no testbed needed.

Anything with `.sent`, `.done` (unix seconds) and `.ok` works as a request (probes.Request does).

    outage(requests, fault_time)      failover: how long, how many requests lost, who was in flight
    distribution(served_by, expected) load spread: counts, shares, deviation, Jain, chi-square
    summarize(values)                 n / min / median / p95 (n >= 10) / max / mean, None ignored
    first_after(events, t)            the first daemon event at or after t

The outage is measured on the requests' own timestamps, never on the sleeps an experiment chose.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
from scipy import stats


def outage(requests: Sequence, fault_time: float) -> dict:
    """The outage a fault caused, as the probe saw it.

    Definitions (all times unix seconds, requests ordered by send time):

    - first failure: among the failed requests that COMPLETED at or after `fault_time`, the one
      sent first. A request in flight at the fault and failed by it counts, so `start` may be a
      little before the fault; a failure that ended before the fault does not count.
    - start (= first_failure_t): that request's send time.
    - last failure: the failed request sent last (at or after `start`).
    - end (= recovered_t): the SEND time of the first successful request sent after the last
      failure: a request sent then was served, so the service was back.
    - outage_ms = end - start; recovery_ms = end - fault_time (the fault to service back).
    - failed_requests (lost requests) = failures sent in [start, end); bursts = runs of
      consecutive failures among the requests in that window (1 = one clean outage, more = flapping).
    - in_flight_at_fault = requests sent before and completed at or after the fault;
      in_flight_failed = those of them that failed.

    - probe_spacing_ms: the median gap between send times over the whole probe: the resolution
      of every figure above (an outage reads on this grid, give or take one spacing).

    Flags: no_failure (no failure completed at or after the fault: outage 0, nothing lost);
    not_recovered (no success after the last failure: the window is closed at the last request's
    send time, so outage_ms is a lower bound).

    The resolution is the probe interval; failures of unrelated causes inside the window are
    counted too (check `bursts` and `errors`).
    """
    ordered = sorted(requests, key=lambda r: r.sent)
    in_flight = [r for r in ordered if r.sent < fault_time <= r.done]
    gaps = [b.sent - a.sent for a, b in zip(ordered, ordered[1:])]
    result = {
        "requests": len(ordered),
        "probe_spacing_ms": round(float(np.median(gaps)) * 1000, 2) if gaps else None,
        "in_flight_at_fault": len(in_flight),
        "in_flight_failed": sum(1 for r in in_flight if not r.ok),
        "first_failure_t": None, "last_failure_t": None, "recovered_t": None,
        "outage_ms": 0.0, "recovery_ms": 0.0, "failed_requests": 0, "bursts": 0, "errors": {},
        "no_failure": True, "not_recovered": False,
    }
    candidates = [r for r in ordered if not r.ok and r.done >= fault_time]
    if not candidates:
        return result
    start = candidates[0].sent
    window = [r for r in ordered if r.sent >= start]
    last_failure = max((r for r in window if not r.ok), key=lambda r: r.sent)
    recovered = next((r for r in window if r.ok and r.sent > last_failure.sent), None)
    end = recovered.sent if recovered else window[-1].sent
    inside = [r for r in window if r.sent < end] if recovered else window
    failed = [r for r in inside if not r.ok]
    bursts = sum(1 for i, r in enumerate(inside) if not r.ok and (i == 0 or inside[i - 1].ok))
    result.update(
        first_failure_t=start, last_failure_t=last_failure.sent,
        recovered_t=recovered.sent if recovered else None,
        outage_ms=round((end - start) * 1000, 3),
        recovery_ms=round(max(0.0, end - fault_time) * 1000, 3),
        failed_requests=len(failed), bursts=bursts,
        errors=dict(Counter(r.error or f"http_{r.status}" for r in failed)),
        no_failure=False, not_recovered=recovered is None,
    )
    return result


def distribution(served_by: Iterable[str], expected: dict[str, float]) -> dict:
    """How requests spread over servers, against the expected shares (normalized to sum 1).

    - counts, shares: per server that answered (empty names, i.e. failed requests, are left out
      and counted in `unnamed`); every expected server appears, with 0 if it served nothing.
    - max_deviation_requests / max_deviation_share: the largest |observed - expected| over the
      expected servers, in requests and in share of the total.
    - jain: Jain's fairness index (sum x)^2 / (k * sum x^2) over the servers with expected share
      > 0, with x = count / expected share (so weighted expectations are fair at 1.0).
    - chi2, p_value: chi-square goodness of fit of those servers' counts to their shares
      (scipy.stats.chisquare); None when fewer than two such servers or no requests.
      A high p-value means "consistent with the expected split".
    - unexpected: requests served by a server expected to get 0 (a backup) or not listed at all.
    - max_pair_difference: the largest |count_a - count_b| among servers with expected share > 0.
    """
    names = list(served_by)
    counts = Counter(n for n in names if n)
    total_weight = sum(expected.values())
    if total_weight <= 0:
        raise ValueError("expected shares must sum to more than 0")
    share_exp = {s: w / total_weight for s, w in expected.items()}
    for server in share_exp:
        counts.setdefault(server, 0)
    total = sum(counts.values())
    active = [s for s, w in share_exp.items() if w > 0]
    shares = {s: (c / total if total else 0.0) for s, c in counts.items()}
    deviations = [abs(counts[s] - share_exp[s] * total) for s in share_exp]
    share_devs = [abs(shares[s] - share_exp[s]) for s in share_exp]

    x = [counts[s] / share_exp[s] for s in active]
    square_sum = sum(v * v for v in x)
    jain = (sum(x) ** 2) / (len(x) * square_sum) if square_sum > 0 else None

    chi2 = p_value = None
    observed = [counts[s] for s in active]
    if len(active) >= 2 and sum(observed) > 0:
        n_active = sum(observed)
        expected_counts = [share_exp[s] / sum(share_exp[a] for a in active) * n_active for s in active]
        test = stats.chisquare(observed, expected_counts)
        chi2, p_value = float(test.statistic), float(test.pvalue)

    active_counts = [counts[s] for s in active]
    return {
        "total": total,
        "unnamed": len(names) - sum(1 for n in names if n),
        "counts": dict(sorted(counts.items())),
        "shares": {s: round(v, 6) for s, v in sorted(shares.items())},
        "expected_shares": share_exp,
        "max_deviation_requests": round(max(deviations), 3) if deviations else 0.0,
        "max_deviation_share": round(max(share_devs), 6) if share_devs else 0.0,
        "jain": round(jain, 6) if jain is not None else None,
        "chi2": chi2,
        "p_value": p_value,
        "unexpected": sum(c for s, c in counts.items() if share_exp.get(s, 0) == 0),
        "max_pair_difference": (max(active_counts) - min(active_counts)) if active_counts else 0,
    }


P95_MIN_N = 10  # a 95th percentile of fewer values is an interpolation between the top two


def summarize(values: Iterable[float | None]) -> dict:
    """n, min, median, p95 (linear interpolation), max, mean of the values that are not None/NaN.
    p95 is None below P95_MIN_N values: min and max say what the few trials spanned."""
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not kept:
        return {"n": 0, "min": None, "median": None, "p95": None, "max": None, "mean": None}
    arr = np.asarray(kept)
    p95 = float(np.percentile(arr, 95)) if len(kept) >= P95_MIN_N else None
    return {"n": len(kept), "min": float(arr.min()), "median": float(np.median(arr)),
            "p95": p95, "max": float(arr.max()), "mean": float(arr.mean())}


def latencies_ms(requests: Iterable, ok_only: bool = True) -> list[float]:
    """Connect-to-last-byte time of each request, in ms (successful ones only by default)."""
    return [(r.done - r.sent) * 1000 for r in requests if r.ok or not ok_only]


def achieved_interval(requests: Sequence) -> dict:
    """How regularly requests were actually sent: the gaps between consecutive send times (ms)
    and the achieved rate; tells whether the probe kept its schedule on this machine."""
    sent = sorted(r.sent for r in requests)
    gaps = [(b - a) * 1000 for a, b in zip(sent, sent[1:])]
    span = sent[-1] - sent[0] if len(sent) > 1 else 0.0
    return {"rate_per_s": round((len(sent) - 1) / span, 3) if span > 0 else None, "gap_ms": summarize(gaps)}


def first_after(events: Iterable[tuple[float, str]], t: float, match: str | None = None) -> tuple[float, str] | None:
    """The earliest (time, label) event at or after `t` (whose label contains `match`, if given)."""
    chosen = None
    for when, label in events:
        if when >= t and (match is None or match in label) and (chosen is None or when < chosen[0]):
            chosen = (when, label)
    return chosen


def delay_ms(events: Iterable[tuple[float, str]], t: float, match: str | None = None) -> float | None:
    """Milliseconds from `t` to the first matching event at or after it; None if there is none."""
    event = first_after(events, t, match)
    return round((event[0] - t) * 1000, 3) if event else None
