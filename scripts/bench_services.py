#!/usr/bin/env python3
"""Benchmark of the full stack: cold start, teardown, memory, and HTTPS throughput via the VIP.

    sudo .venv/bin/python scripts/bench_services.py [--runs 5] [--wrk-seconds 5] [--topology PATH]

  cold start  Testbed.start() with every daemon until all are ready; teardown Testbed.stop().
              Median of --runs (the MariaDB template is built once per machine, before run 1).
  memory      PSS and RSS summed over every process of the run (recorded pids and their process
              groups), sampled after start and after the load; the peak is reported.
  wrk         requests/s from client1 through the VIP (HAProxy, TLS passthrough, round robin over
              server1+server2) vs straight to server1 from lb1 (the only namespace with a route to
              a server), same run, same wrk settings.

Writes results/<UTC time>-bench_services/summary.json and prints a table.
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

from runtime import command  # noqa: E402
from topo.model import load_topology  # noqa: E402
from experiments import report  # noqa: E402
from hatestbed.testbed import Testbed  # noqa: E402


def stack_memory(testbed) -> dict:
    """PSS/RSS (MiB) of every process in a recorded process's group (daemons with workers, host
    shells) or the recorded process itself."""
    records = testbed.run_dir.processes()
    groups = {r.pid for r in records if r.group and r.alive()}
    pids = {r.pid for r in records if r.alive()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:
            pids.add(int(stat.parent.name))
    pss = rss = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        pss += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
        rss += int(re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1))
    return {"processes": len(pids), "pss_mib": round(pss / 1024, 1), "rss_mib": round(rss / 1024, 1)}


def wrk(node, url: str, host_header: str, seconds: int) -> dict:
    out = command.check_output(["wrk", "-t2", "-c16", f"-d{seconds}s", "-H", f"Host: {host_header}", url],
                               node, timeout=seconds + 30)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": float(rate.group(1)) if rate else None,
            "non_2xx": int(errors.group(1)) if errors else 0, "output": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--topology", help="topology YAML (default: topo/default.yaml)")
    args = parser.parse_args()
    from mininet.log import setLogLevel
    setLogLevel("warning")

    topology = load_topology(args.topology) if args.topology else load_topology()
    ups, downs, memory, throughput = [], [], [], {}
    for run in range(args.runs):
        testbed = Testbed(topology)
        testbed.preflight()
        began = time.monotonic()
        try:
            testbed.start()
            ups.append(time.monotonic() - began)
            memory.append(stack_memory(testbed))
            if run == 0:
                site = testbed.site
                name, port = site.services.server_name, site.services.ports.https
                throughput["via_vip"] = wrk(testbed.net[site.clients[0]], f"https://{site.vip}:{port}/",
                                            name, args.wrk_seconds)
                throughput["direct_server1"] = wrk(testbed.net[site.lbs[0]],
                                                   f"https://{site.backend_ip('server1')}:{port}/",
                                                   name, args.wrk_seconds)
                memory.append(stack_memory(testbed))
        finally:
            began = time.monotonic()
            testbed.stop()
            downs.append(time.monotonic() - began)

    via, direct = throughput["via_vip"]["requests_per_s"], throughput["direct_server1"]["requests_per_s"]
    peak = max(memory, key=lambda m: m["pss_mib"])
    summary = {
        "bench": "bench_services", "when": datetime.now(timezone.utc).isoformat(),
        "cold_start_s": ups, "cold_start_median_s": statistics.median(ups),
        "teardown_s": downs, "teardown_median_s": statistics.median(downs),
        "memory_samples": memory, "memory_peak": peak,
        "wrk": {k: {kk: vv for kk, vv in v.items() if kk != "output"} for k, v in throughput.items()},
        "wrk_output": {k: v["output"] for k, v in throughput.items()},
        "vip_to_direct_ratio": round(via / direct, 3) if via and direct else None,
    }
    out_dir = report.results_dir(REPO / "results", "bench_services")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"cold start, every daemon ready: median {summary['cold_start_median_s']:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in ups)})  target <= 8 s")
    print(f"teardown:                       median {summary['teardown_median_s']:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in downs)})  target <= 3 s")
    print(f"memory, whole stack (peak):     PSS {peak['pss_mib']} MiB, RSS {peak['rss_mib']} MiB, "
          f"{peak['processes']} processes")
    print(f"wrk HTTPS: via VIP {via:.0f} req/s, direct to server1 {direct:.0f} req/s, "
          f"ratio {summary['vip_to_direct_ratio']}  target >= 0.8")
    print(f"written: {out_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
