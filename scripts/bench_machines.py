#!/usr/bin/env python3
"""Bring-up over two machines: the time against the number of hosts on the other machine, and
where it goes.

    sudo .venv/bin/python scripts/bench_machines.py [--remote 8,16,32] [--no-services]
    .venv/bin/python scripts/bench_machines.py --plot results/<time>-bench_machines/summary.json [--out PNG]

  network   for each count N, topo/examples/two-machines.yaml grown (topo/scale.py: servers in
            turn on s3 (m1) and s4 (m2), four clients) until N hosts are on m2, services off,
            brought up twice: split (m2 simulated, runtime/simmachine.py; its hosts and switches
            driven over SSH by Mininet Cluster Edition) and single (the same topology, no
            placement). Testbed.timings gives the phases: machines ready, controller listening,
            network built, switches connected, hosts reachable.
  services  the two-machine site itself with its daemons, split and single: services ready.

A size that does not come up is reported with its error and the next one runs. Writes
results/<UTC time>-bench_machines/summary.json and bringup.png (each size's phases stacked,
split beside single). Exit 0 when every bring-up worked, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from experiments import report  # noqa: E402
from hatestbed.testbed import Testbed  # noqa: E402
from runtime.text import format_table  # noqa: E402
from topo.errors import TestbedError  # noqa: E402
from topo.model import DEFAULT_TOPOLOGY, load_topology  # noqa: E402
from topo.scale import scaled_topology  # noqa: E402

TWO = DEFAULT_TOPOLOGY.parent / "examples" / "two-machines.yaml"
PHASES = ("machines_ready", "controller_listening", "network_built", "switches_connected", "hosts_reachable",
          "services_ready")
# What happens in each phase (Testbed._bring_up): the controller starts while Mininet makes the
# hosts and links, so the second phase ends when both are done.
PHASE_LABELS = {"machines_ready": "other machines ready (SSH, OVS)",
                "controller_listening": "hosts and links made (controller starting beside)",
                "network_built": "switches started, host settings",
                "switches_connected": "switches connected",
                "hosts_reachable": "hosts reachable (pings)",
                "services_ready": "services ready"}
CLIENTS = 4


def sized(remote: int):
    """The two-machine topology, services off, grown until `remote` hosts are on m2."""
    base = load_topology(TWO).without_services()
    for servers in range(2, 400):
        topology = scaled_topology(base, active_servers=servers, clients=CLIENTS)
        on_m2 = [n for n in topology.layout.nodes_on("m2") if n in topology.hosts]
        if len(on_m2) >= remote:
            return topology
    raise TestbedError(f"no size of the two-machine topology puts {remote} hosts on m2")


def single(topology):
    """The same topology on this machine alone."""
    return topology.model_copy(update={"machines": {}, "placement": {}, "name": topology.name + "-single"})


def bring_up(topology) -> dict:
    testbed = Testbed(topology)
    began = time.monotonic()
    entry = {"topology": topology.name, "hosts": len(topology.hosts), "switches": len(topology.switches)}
    try:
        testbed.preflight()
        testbed.start(timeout=60)
        entry.update(ok=True, phases=dict(testbed.timings.marks), up_s=round(time.monotonic() - began, 3))
    except TestbedError as exc:
        entry.update(ok=False, error=str(exc).splitlines()[0], phases=dict(testbed.timings.marks))
    finally:
        began = time.monotonic()
        testbed.stop()
        entry["teardown_s"] = round(time.monotonic() - began, 3)
    return entry


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    colours = dict(zip(PHASES, ("#999999", "#4477aa", "#66ccee", "#228833", "#ccbb44", "#ee6677")))
    labelled = set()
    for index, run in enumerate(runs):
        bottom = 0.0
        for phase in PHASES:
            if phase not in run["phases"]:
                continue
            ax.bar(index, run["phases"][phase] - bottom, bottom=bottom, color=colours[phase],
                   label=None if phase in labelled else PHASE_LABELS[phase])
            labelled.add(phase)
            bottom = run["phases"][phase]
        ax.text(index, bottom, f"{bottom:.1f} s", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(range(len(runs))),
                  [f"{r['hosts']} hosts\n{r['placement']}" + (f"\n{r['remote_hosts']} on m2" if r["placement"] == "split"
                                                              else "") for r in runs], fontsize=8)
    ax.set_ylabel("seconds since start() (each colour: one phase)")
    ax.set_title("Bring-up on one machine or two (m2 simulated; its hosts and switches over SSH)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", default="8,16,32", help="hosts on the other machine, comma-separated")
    parser.add_argument("--no-services", action="store_true", help="skip the two-machine site with its services")
    parser.add_argument("--plot", metavar="SUMMARY", type=Path,
                        help="only draw the plot of an earlier run's summary.json (beside it, or at --out)")
    parser.add_argument("--out", type=Path, help="with --plot: where to write the PNG")
    args = parser.parse_args(argv)
    if args.plot:
        plot(json.loads(args.plot.read_text())["runs"], args.out or args.plot.parent / "bringup.png")
        return 0
    try:
        counts = [int(c) for c in args.remote.split(",") if c.strip()]
    except ValueError:
        print(f"bench_machines.py: error: --remote: {args.remote!r} is not a list of numbers", file=sys.stderr)
        return 2
    folder = report.results_dir(REPO / "results", "bench_machines")
    runs = []
    sizes = [(sized(n), "network") for n in counts]
    if not args.no_services:
        sizes.append((load_topology(TWO), "services"))
    for topology, part in sizes:
        for placement, shape in (("split", topology), ("single", single(topology))):
            print(f"{part}: {topology.name} {placement} ({len(topology.hosts)} hosts)", flush=True)
            entry = bring_up(shape) | {"placement": placement, "part": part}
            entry["remote_hosts"] = len([n for n in topology.layout.nodes_on("m2") if n in topology.hosts])
            runs.append(entry)
            (folder / "summary.json").write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    plot(runs, folder / "bringup.png")
    rows = [[r["part"], r["hosts"], r["remote_hosts"] if r["placement"] == "split" else 0, r["placement"],
             f"{r.get('up_s', 0):.2f}" if r["ok"] else "FAILED"]
            + [f"{r['phases'].get(p, 0):.2f}" for p in PHASES] + [f"{r['teardown_s']:.2f}"] for r in runs]
    print(format_table(["part", "hosts", "on m2", "placement", "up s", *PHASES, "teardown s"], rows))
    print(f"summary: {folder / 'summary.json'}; plot: {folder / 'bringup.png'}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
