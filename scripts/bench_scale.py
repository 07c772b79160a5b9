#!/usr/bin/env python3
"""Scale benchmark: the default topology grown to N servers, brought up, checked like --smoke.

    sudo .venv/bin/python scripts/bench_scale.py [--servers 3,12,24,48] [--clients N] [--modes galera,async]
                                                 [--db-nodes N|all] [--topology PATH]

  --servers  servers in all, the backup among them: 3 is the default topology (server1 and
             server2 active, server3 the backup); the others are active servers, placed in
             turn on s3/s4 like the default's (topo/scale.py)
  --clients  clients for every size; by default servers // 3, at least 2: 2, 4, 8, 16 for
             3, 12, 24, 48 (the default's two clients, and the 24 + 8 and 48 + 16 of the
             measurements in issue 12), placed in turn on s1/s2
  --db-nodes the database tier at every size: the base topology's nodes by default (server1-3),
             N: the first N servers, all: every server (the tier grows with the servers)
  --modes    database modes, each size brought up once per mode (default: the topology's own);
             Galera's group grows with every server (each node talks to every other), GTID
             replication only as a star around the primary

  one size:  Testbed.preflight() → start() → memory → the --smoke checks → stop() (always)
    bring-up   start() wall time and its phases (Testbed.timings: controller listening, network
               built, switches connected, hosts reachable, services ready; the services'
               stages from the service manager)
    memory     PSS/RSS of every process of the run (bench_services.stack_memory)
    health     hatestbed/status.py health_checks + service_checks, as `--smoke` runs them:
               rows ok and failed, the failed ones named
    timers     the effective health-check timers (topo/check_budget.py) and Prometheus' scrape
               interval, both stretched at scale

A size that does not come up is reported (its error, the phases it reached) and the next size
runs. summary.json is rewritten after every size, so an interrupted run keeps what it measured.

Writes results/<UTC time>-bench_scale/summary.json and prints a table. Exit codes: 0 every size
came up healthy; 1 a size did not, or the machine is not ready (one line says why); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))  # bench_services beside this file, also when imported

from bench_services import stack_memory  # noqa: E402
from experiments import report  # noqa: E402
from topo.profiles import DB_MODES, timers_of, with_timers  # noqa: E402
from hatestbed.status import health_checks, service_checks  # noqa: E402
from hatestbed.testbed import Testbed  # noqa: E402
from topo.errors import BadInputError, TestbedError  # noqa: E402
from topo.model import DEFAULT_TOPOLOGY, Topology, load_topology  # noqa: E402
from topo.scale import scaled_topology  # noqa: E402
from runtime.text import format_table  # noqa: E402

PROG = "bench_scale.py"
DEFAULT_SERVERS = "3,12,24,48"


def parse_counts(text: str, option: str, least: int, why: str = "") -> list[int]:
    """"3,12,24" → [3, 12, 24]; BadInputError naming the option for anything else."""
    counts = []
    for word in text.split(","):
        word = word.strip()
        if not word.isdigit():
            raise BadInputError(f"{option}: {word!r} is not a whole number")
        if int(word) < least:
            raise BadInputError(f"{option}: {word} is too few (at least {least}{why})")
        counts.append(int(word))
    return counts


def default_clients(servers: int) -> int:
    return max(2, servers // 3)


def plan_sizes(base: Topology, servers_text: str, clients_text: str | None,
               db_nodes_text: str | None = None) -> list[Topology]:
    """Every size's topology, built (and validated) before any testbed starts."""
    backups = sum(1 for host in base.hosts.values() if host.backup)
    servers = parse_counts(servers_text, "--servers", backups + 1,
                           f": one active server and {base.name}'s {backups} backup")
    if clients_text is not None and "," in clients_text:
        raise BadInputError("--clients: one number, for every size")
    clients = parse_counts(clients_text, "--clients", 1)[0] if clients_text is not None else None
    if db_nodes_text is not None and db_nodes_text != "all" and "," in db_nodes_text:
        raise BadInputError("--db-nodes: one number (or all), for every size")
    fixed = parse_counts(db_nodes_text, "--db-nodes", 1)[0] if db_nodes_text not in (None, "all") else None

    def nodes(n: int) -> int | None:
        return n if db_nodes_text == "all" else (min(fixed, n) if fixed else None)

    return [scaled_topology(base, n - backups, clients or default_clients(n), nodes(n)) for n in servers]


def in_modes(sizes: list[Topology], modes_text: str | None) -> list[Topology]:
    """Every size once per database mode (`--modes`), sizes first; the topology's own mode if none."""
    if modes_text is None:
        return sizes
    modes = [m.strip() for m in modes_text.split(",") if m.strip()]
    bad = [m for m in modes if m not in DB_MODES]
    if bad or not modes:
        raise BadInputError(f"--modes: unknown database mode {bad[0] if bad else '(none given)'!r} "
                            f"(one of {', '.join(DB_MODES)})")
    return [with_timers(topology, mode) for mode in modes for topology in sizes]


def measure(topology: Topology) -> dict:
    """Bring one size up, measure, check, always tear down."""
    roles = [host.role for host in topology.hosts.values()]
    nodes = topology.services.mariadb.nodes
    row = {"topology": topology.name, "servers": roles.count("server"), "clients": roles.count("client"),
           "hosts": len(roles), "db_mode": topology.services.mariadb.mode,
           "db_nodes": len(nodes) if nodes is not None else roles.count("server"), "timers": timers_of(topology)}
    testbed = Testbed(topology)
    testbed.preflight()  # a machine not ready stops the whole benchmark (TestbedError)
    began = time.monotonic()
    try:
        testbed.start()
        row["up_s"] = round(time.monotonic() - began, 3)
        row["memory"] = stack_memory(testbed)
        prometheus = [d for d in testbed.services.daemons if d.name == "prometheus"] if testbed.services else []
        row["scrape_interval_s"] = prometheus[0].scrape_interval_s() if prometheus else None
        checked = time.monotonic()
        checks = health_checks(testbed) + service_checks(testbed)
        row["checks_s"] = round(time.monotonic() - checked, 3)
        failed = [c for c in checks if not c.ok]
        row["checks"] = {"ok": len(checks) - len(failed), "failed": len(failed),
                         "failures": [{"component": c.component, "target": c.target, "detail": c.detail}
                                      for c in failed]}
        row["result"] = "healthy" if not failed else "unhealthy"
    except Exception as exc:  # this size did not come up: report it, the next size still runs
        row["result"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        row["phases_s"] = dict(testbed.timings.marks)
        row["service_stages_s"] = dict(testbed.services.timings) if testbed.services else {}
        try:
            testbed.stop()
        except Exception as exc:  # recorded; main() stops there (the machine may not be clean)
            row["teardown_error"] = f"{type(exc).__name__}: {exc}"
        row["teardown_s"] = testbed.timings.marks.get("teardown")
    return row


def table(rows: list[dict]) -> str:
    headers = ["servers", "clients", "db", "db nodes", "up s", "reachable s", "services s", "PSS MiB", "processes",
               "checks ok", "failed", "check inter ms", "scrape s", "teardown s", "result"]
    lines = []
    for row in rows:
        phases, memory, checks = row["phases_s"], row.get("memory", {}), row.get("checks", {})
        result = row["result"] if row["result"] != "error" else f"error: {row['error'][:60]}"
        lines.append([row["servers"], row["clients"], row["db_mode"], row.get("db_nodes", "-"), row.get("up_s", "-"), phases.get("hosts_reachable", "-"),
                      phases.get("services_ready", "-"), memory.get("pss_mib", "-"), memory.get("processes", "-"),
                      checks.get("ok", "-"), checks.get("failed", "-"), row["timers"]["haproxy_check_inter_ms"],
                      row.get("scrape_interval_s") or "-", row.get("teardown_s", "-"), result])
    return format_table(headers, lines)


def fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=DEFAULT_SERVERS, metavar="N,...",
                        help=f"servers in all per size, the backup among them (default {DEFAULT_SERVERS})")
    parser.add_argument("--clients", metavar="N", help="clients for every size (default: servers // 3, at least 2)")
    parser.add_argument("--modes", metavar="MODE,...", help="database modes, each size once per mode "
                        "(galera, semisync, async; default: the topology's own)")
    parser.add_argument("--db-nodes", metavar="N|all", help="database nodes at every size (default: the "
                        "topology's own, server1-3; all: every server)")
    parser.add_argument("--topology", metavar="PATH", help="the base topology (default: topo/default.yaml)")
    args = parser.parse_args(argv)
    try:
        sizes = in_modes(plan_sizes(load_topology(args.topology or DEFAULT_TOPOLOGY), args.servers, args.clients,
                                    args.db_nodes), args.modes)
    except BadInputError as exc:
        return fail(str(exc), 2)

    from mininet.log import setLogLevel
    setLogLevel("warning")

    summary = {"bench": "bench_scale", "when": datetime.now(timezone.utc).isoformat(), "sizes": []}
    out_dir = None
    for topology in sizes:
        print(f"{topology.name} ({topology.services.mariadb.mode}): bringing up {len(topology.hosts)} hosts ...",
              flush=True)
        try:
            row = measure(topology)
        except TestbedError as exc:  # preflight: the machine is not ready for any size
            return fail(str(exc), 1)
        except KeyboardInterrupt:  # measure() has torn the testbed down
            return fail("interrupted" + (f"; partial results: {out_dir / 'summary.json'}" if out_dir else ""), 130)
        summary["sizes"].append(row)
        print(f"{topology.name}: {row['result']}" + (f" ({row['error']})" if "error" in row else ""), flush=True)
        out_dir = out_dir or report.results_dir(REPO / "results", "bench_scale")
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        if "teardown_error" in row:
            return fail(f"{topology.name}: teardown failed, no further size run: {row['teardown_error']} "
                        f"(partial results: {out_dir / 'summary.json'})", 1)
    print(table(summary["sizes"]))
    print(f"written: {out_dir / 'summary.json'}")
    return 0 if all(row["result"] == "healthy" for row in summary["sizes"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
