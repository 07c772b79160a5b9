#!/usr/bin/env python3
"""Benchmark of the bare network (no daemons): bring-up, teardown, and reroute after a link cut.

    sudo .venv/bin/python scripts/bench_core.py [--runs 5] [--cuts 5]

  bring-up  Testbed.start(): controller, switches, hosts, until every host pings every host it
            shares a network with; teardown: Testbed.stop(). Median of --runs.
  link cut  client1 (s1) pings client2 (s2) every 10 ms; the s1-s2 link goes down, later up.
            Outage = the gap between the last reply before the cut and the first one after,
            minus one interval, from ping's own receive timestamps (-D); lost = missing seqs.
            The controller's journal gives port-status → flows-sent times for comparison.

Writes results/<UTC time>-bench_core/summary.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from topo.model import load_topology  # noqa: E402
from experiments import report  # noqa: E402
from hatestbed.testbed import Testbed  # noqa: E402

INTERVAL = 0.01
REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)")


def bring_up_and_down(runs: int) -> dict:
    ups, downs = [], []
    for _ in range(runs):
        testbed = Testbed(load_topology().without_services())
        testbed.preflight()
        began = time.monotonic()
        try:
            testbed.start()
            ups.append(time.monotonic() - began)
        finally:
            began = time.monotonic()
            testbed.stop()
            downs.append(time.monotonic() - began)
    return {"up_s": ups, "down_s": downs,
            "up_median_s": statistics.median(ups), "down_median_s": statistics.median(downs)}


def outage_from_ping(output: str, count: int, cut_at: float) -> dict:
    """Replies (seq → receive time) → lost seqs and the reply gap spanning `cut_at`."""
    replies = {}
    for line in output.splitlines():
        match = REPLY.match(line)
        if match:
            replies[int(match.group(2))] = float(match.group(1))
    lost = sorted(set(range(1, count + 1)) - set(replies))
    times = sorted(replies.values())
    before = max((t for t in times if t <= cut_at), default=None)
    after = min((t for t in times if t > cut_at), default=None)
    gap = (after - before) if before is not None and after is not None else None
    return {"lost": len(lost), "lost_seqs": lost[:50],
            "outage_ms": None if gap is None else round(max(0.0, gap - INTERVAL) * 1000, 1)}


def link_cuts(cuts: int) -> dict:
    testbed = Testbed(load_topology().without_services())
    testbed.preflight()
    trials = []
    try:
        testbed.start()
        client1 = testbed.net["client1"]
        target = testbed.plan.address("client2", "internet")
        for _ in range(cuts):
            for action in ("down", "up"):
                count = 150
                ping = client1.popen(["ping", "-D", "-n", "-i", str(INTERVAL), "-c", str(count), "-W", "1",
                                      str(target)], text=True)
                time.sleep(0.5)  # let the stream run before the event (the figure comes from timestamps)
                events_before = len(testbed.controller.events())
                cut_at = time.time()
                testbed.net.configLinkStatus("s1", "s2", action)
                out, _ = ping.communicate(timeout=30)
                result = outage_from_ping(out, count, cut_at)
                result["action"] = action
                journal = testbed.controller.events()[events_before:]
                installs = [e for e in journal if e["event"] == "flows_installed"]
                result["controller_ms"] = installs[0]["ms_since_cause"] if installs else None
                result["event_to_flows_ms"] = round((installs[-1]["t_sent"] - cut_at) * 1000, 1) if installs else None
                trials.append(result)
    finally:
        testbed.stop()
    cut = [t for t in trials if t["action"] == "down"]
    restore = [t for t in trials if t["action"] == "up"]

    def median(rows, key):
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else None

    return {"trials": trials,
            "cut_outage_ms_median": median(cut, "outage_ms"), "cut_outage_ms_max": max(
                (t["outage_ms"] for t in cut if t["outage_ms"] is not None), default=None),
            "cut_lost_median": median(cut, "lost"),
            "restore_outage_ms_median": median(restore, "outage_ms"),
            "restore_lost_median": median(restore, "lost")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cuts", type=int, default=5)
    args = parser.parse_args()
    from mininet.log import setLogLevel
    setLogLevel("warning")

    summary = {"bench": "bench_core", "when": datetime.now(timezone.utc).isoformat(),
               "bring_up": bring_up_and_down(args.runs), "link_cut": link_cuts(args.cuts)}
    out_dir = report.results_dir(REPO / "results", "bench_core")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    up, cut = summary["bring_up"], summary["link_cut"]
    print(f"bring-up to all-pairs reachable: median {up['up_median_s']:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in up['up_s'])})  target <= 5 s")
    print(f"teardown:                        median {up['down_median_s']:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in up['down_s'])})  target <= 3 s")
    print(f"link cut s1-s2, 10 ms pings:     outage median {cut['cut_outage_ms_median']} ms, "
          f"max {cut['cut_outage_ms_max']} ms, lost median {cut['cut_lost_median']}  target <= 100 ms")
    print(f"link restore:                    outage median {cut['restore_outage_ms_median']} ms, "
          f"lost median {cut['restore_lost_median']}")
    print(f"written: {out_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
