#!/usr/bin/env python3
"""Benchmark of the bare network (no daemons): bring-up, teardown, and reroute after a link cut.

    sudo .venv/bin/python scripts/bench_core.py [--runs 5] [--cuts 5]

  bring-up  Testbed.start(): controller, switches, hosts, until every host pings every host it
            shares a network with; teardown: Testbed.stop(). Median of --runs.
  link cut  client1 (s1) pings client2 (s2) every 1 ms; a link goes down, 0.4 s later up again:
            s1-s2 (on the path) with the controller running, s1-s2 with every controller
            instance frozen (SIGSTOP: only the switches' fast-failover groups can reroute), and
            s3-s4 (off the path: what a port change alone costs the userspace datapath).
            Per cut: the longest reply gap around it and the echoes lost (missing seqs), from
            ping's own receive timestamps (-D).

Writes results/<UTC time>-bench_core/summary.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from topo.model import load_topology  # noqa: E402
from experiments import report  # noqa: E402
from hatestbed.testbed import Testbed  # noqa: E402
from experiments.faults.controller import ControllerFreeze  # noqa: E402
from experiments.ping_probe import gap, parse_replies  # noqa: E402
from runtime.wait import wait_until  # noqa: E402

INTERVAL = 0.001


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


CONDITIONS = (  # (name, link, controller frozen?)
    ("cut s1-s2 (on the path), controller running", ("s1", "s2"), False),
    ("cut s1-s2 (on the path), every controller frozen", ("s1", "s2"), True),
    ("cut s3-s4 (off the path), controller running", ("s3", "s4"), False),
)


def one_cut(testbed, link: tuple[str, str], frozen: bool) -> dict:
    """client1 (s1) pings client2 (s2) every ms; `link` goes down 0.4 s in, up again 0.4 s later."""
    client1 = testbed.net["client1"]
    target = testbed.plan.address("client2", "internet")
    count = 1000
    ping = client1.popen(["ping", "-D", "-n", "-i", str(INTERVAL), "-c", str(count), "-W", "1", str(target)],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.4)  # let the stream run before the event (the figure comes from timestamps)
    freeze = ControllerFreeze(testbed) if frozen else None
    if freeze is not None:
        freeze.inject()
    cut_at = time.time()
    try:
        testbed.net.configLinkStatus(*link, "down")
        time.sleep(0.4)
        testbed.net.configLinkStatus(*link, "up")
    finally:
        if freeze is not None:
            freeze.recover()
    out, _ = ping.communicate(timeout=30)
    result = gap(parse_replies(out), cut_at, window=0.3)
    return {"gap_ms": result["gap_ms"], "lost": result["lost"]}


def link_cuts(cuts: int) -> dict:
    testbed = Testbed(load_topology().without_services())
    testbed.preflight()
    rows = {name: [] for name, _, _ in CONDITIONS}
    try:
        testbed.start()
        for _ in range(cuts):
            for name, link, frozen in CONDITIONS:
                rows[name].append(one_cut(testbed, link, frozen))
                wait_until(lambda: all(testbed.switch_connections().values()), 10, "every switch in service")
    finally:
        testbed.stop()
    return {name: {"trials": trials,
                   "gap_ms_median": statistics.median(t["gap_ms"] for t in trials),
                   "gap_ms_max": max(t["gap_ms"] for t in trials),
                   "lost_median": statistics.median(t["lost"] for t in trials),
                   "lost_max": max(t["lost"] for t in trials)} for name, trials in rows.items()}


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
    for name, row in cut.items():
        print(f"{name}: reply gap median {row['gap_ms_median']} ms (max {row['gap_ms_max']}), "
              f"echoes lost median {row['lost_median']} (max {row['lost_max']})  target: reroute <= 5 ms")
    print(f"written: {out_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
