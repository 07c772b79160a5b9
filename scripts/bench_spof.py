#!/usr/bin/env python3
"""Benchmark of the static SPOF analysis (no network, no root): how long --spof takes.

    .venv/bin/python scripts/bench_spof.py [--runs 5]

  seed      topo/default.yaml: 8 hosts, 4 switches (target <= 2 s)
  50 hosts  the seed plus generated servers (alternately on s3 and s4) and clients (on s1), 50
            hosts or more (target <= 10 s)

Each figure is the median of --runs full analyses (singles, size-2 cut sets, graph facts).
Writes results/<UTC time>-bench_spof/summary.json and prints a table. The sweep's wall time is
reported by the sweep itself (`--experiment spof_sweep`, its summary's started/finished).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from experiments import report  # noqa: E402
from spof.analysis import analyze  # noqa: E402
from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology  # noqa: E402


def generated(hosts: int):
    """The seed with servers and clients added until it has at least `hosts` hosts."""
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    n = 4
    while len(data["hosts"]) < hosts:
        if n % 10 == 0:
            data["hosts"][f"client{n}"] = {"role": "client", "interfaces": [{"network": "internet", "switch": "s1"}]}
        else:
            data["hosts"][f"server{n}"] = {"role": "server",
                                           "interfaces": [{"network": "service", "switch": f"s{3 + n % 2}"}]}
        n += 1
    return parse_topology(data, f"generated, {len(data['hosts'])} hosts")


def timed(topology, runs: int) -> dict:
    seconds, last = [], None
    for _ in range(runs):
        began = time.monotonic()
        last = analyze(topology)
        seconds.append(time.monotonic() - began)
    return {"hosts": len(topology.hosts), "median_s": round(statistics.median(seconds), 3),
            "runs_s": [round(s, 3) for s in seconds], "components": len({j.component for j in last.judgements}),
            "spofs": len({j.component for j in last.spofs()}), "cut_sets": len(last.cut_sets),
            "pairs_tried": last.pairs_tried}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    summary = {"bench": "bench_spof", "seed": timed(load_topology(), args.runs),
               "fifty_hosts": timed(generated(50), args.runs)}
    out_dir = report.results_dir(REPO / "results", "bench_spof")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    for label, row, target in (("seed", summary["seed"], 2), ("50 hosts", summary["fifty_hosts"], 10)):
        print(f"static SPOF analysis, {label:<8} ({row['hosts']} hosts, {row['components']} components): "
              f"median {row['median_s']:.2f} s, {row['pairs_tried']} pairs, {row['cut_sets']} cut sets  "
              f"target <= {target} s")
    print(f"written: {out_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
