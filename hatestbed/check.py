"""`--check`: is this topology file good to run? Answered in seconds, with no network brought up.

    load the YAML ─▶ schema and meaning (topo/model.py: overlapping subnets, roles without the
                     hosts they need, ports out of range, ...)            bad: one line, exit 2
    render every daemon's files into a scratch directory (TLS material included)
    run each daemon's own checker on them: haproxy -c, nginx -t, keepalived -t,
        iptables-restore --test, mariadbd --help --verbose, gunicorn --check-config, promtool
    remove the scratch directory

Each checker runs in a network namespace of its own that lives as long as it does (`unshare
--net`), holding an interface named after each of the host's (one end of a veth pair: this
kernel has no dummy driver): keepalived refuses a configuration naming interfaces it cannot
see, and nothing is left to clean up. The checkers
read files and start nothing (iptables-restore --test applies no rule, mariadbd --help starts no
server, nginx -t binds nothing). What they cannot see is what only a running testbed shows (a
daemon that starts and then dies, a port taken): that is `--smoke`'s job.

design_notes() adds what is valid but known not to work on this kind of machine, as notes, not
errors (another machine may do better): a Galera cluster of more nodes than were seen forming.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hosts.manager import ServiceManager, run_checker
from hosts.roles import daemons_for
from hosts.site import Site
from hosts.tls import create_site_tls
from topo.plan import plan_network


@dataclass(frozen=True)
class Checked:
    daemon: str  # e.g. "lb1-haproxy"
    argv: tuple[str, ...]
    ok: bool
    detail: str  # the checker's last lines when it failed

    @property
    def checker(self) -> str:
        """The checking program's name: the module of `python -m`, else the first word after any
        `sh -c` wrapper that is not the wrapper's own argument (nginx's is a directory)."""
        if "-m" in self.argv:
            return self.argv[self.argv.index("-m") + 1]
        words = self.argv[4:] if self.argv[:2] == ("sh", "-c") else self.argv
        return next((Path(w).name for w in words if not w.startswith(("/", "-"))), Path(self.argv[0]).name)


def in_own_namespace(argv: list[str], interfaces: list[str]) -> list[str]:
    """`argv` in a fresh network namespace with an interface for each name in `interfaces`."""
    setup = " && ".join(f"ip link add {name} type veth peer name chk{i}" for i, name in enumerate(interfaces))
    return ["unshare", "--net", "sh", "-c", (setup + " && " if setup else "") + 'exec "$@"', "sh", *argv]


# The largest Galera cluster seen forming on the 2-core reference VM (README "Scale": the 21st
# to 23rd joiner timed out, with the group timers tuned for 3 nodes).
GALERA_NODES_SEEN_FORMING = 20


def design_notes(topology) -> list[str]:
    """Valid settings known not to work on a small VM, or a placement with a blind spot, each one
    line naming the setting."""
    if not topology.services.enabled:
        return []
    notes = []
    layout = topology.layout
    clients = topology.hosts_with_role("client")
    for machine in layout.machines if layout.split else ():
        here = layout.nodes_on(machine)
        if machine != layout.local and clients and all(c in here for c in clients):
            notes.append(f"placement: every client is on machine {machine}: when it fails nobody is left to reach "
                         f"the site, so machine:{machine} cannot be judged (the SPOF analysis and the sweep need a "
                         "client elsewhere)")
        if any(s in here for s in topology.switches) and not any(h in here for h in topology.hosts_with_role("monitor")):
            notes.append(f"placement: machine {machine} has switches but no monitor: their OVS is asked only by a "
                         "fabric exporter on the same machine, so they go unobserved")
    mariadb = topology.services.mariadb
    nodes = len(topology.database_nodes())
    if mariadb.mode == "galera" and nodes > GALERA_NODES_SEEN_FORMING:
        return notes + [f"services.mariadb.nodes: {nodes} Galera nodes; "
                f"more than {GALERA_NODES_SEEN_FORMING} were not seen forming a cluster on a 2-core VM: "
                "list fewer there, or leave the list out for the default tier (3 nodes spread over the "
                "servers' switches beyond 5 servers) (README \"Scale\")"]
    return notes


def check_topology(topology, scratch_root: Path | None = None) -> list[Checked]:
    """Render every daemon's configuration for `topology` and run its checker on it."""
    if not topology.services.enabled:
        return []
    with tempfile.TemporaryDirectory(prefix="hatestbed-check-", dir=scratch_root) as scratch:
        site = Site(plan_network(topology), Path(scratch))
        create_site_tls(site)
        manager = ServiceManager(site, daemons_for(site))
        manager.write_configs()
        (site.run_path / "pids").mkdir(exist_ok=True)  # nginx -t opens its pid file's directory
        results = []
        for daemon in manager.daemons:
            argv = daemon.check_command()
            if argv is None:
                continue
            interfaces = [intf.name for intf in site.plan.host_interfaces(daemon.host)]
            ok, detail = run_checker(in_own_namespace(argv, interfaces))
            results.append(Checked(daemon.label, tuple(argv), ok, detail))
        return results
