"""The components of a design, named by fault addresses: what the analysis judges, one by one.

    node:<host>             a host                      kind "host"
    node:<switch>           a switch (all its ports)    kind "switch"
    daemon:<daemon>@<host>  a daemon process            kind "daemon"
    link:<a>-<b>            an inter-switch link        kind "isl"      (parallel links: all of them)
    link:<host>-<switch>    a host's access link        kind "host_link"
    controller              the OpenFlow controller     kind "controller"
    machine:<name>          another machine, all on it  kind "machine"  (split placements only)
    vip                     the floating address        kind "vip"      (logical: judged, never injected)

The same words as experiments/faults (a switch is `node:<switch>`), so a prediction and the
sweep's observation of one component share a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hosts.roles import daemons_for
from hosts.site import Site

# Daemons are asked what they run, never started: a run directory that does not exist will do.
PLACEHOLDER_RUN = Path("/nonexistent/hatestbed-run")


@dataclass(frozen=True)
class Component:
    address: str
    kind: str
    where: tuple[str, ...]  # the hosts/switches it is on or joins
    description: str


def components(topology, plan) -> list[Component]:
    found = []
    for host, spec in topology.hosts.items():
        found.append(Component(f"node:{host}", "host", (host,), f"{host} ({spec.role}{', backup' if spec.backup else ''})"))
    for switch in topology.switches:
        found.append(Component(f"node:{switch}", "switch", (switch,), f"switch {switch}"))
    if topology.services.enabled:
        for daemon in daemons_for(Site(plan, PLACEHOLDER_RUN)):
            if daemon.command() is not None:
                found.append(Component(f"daemon:{daemon.name}@{daemon.host}", "daemon", (daemon.host,),
                                       f"{daemon.name} on {daemon.host}"))
    for a, b in dict.fromkeys((link.a, link.b) for link in plan.switch_links):
        found.append(Component(f"link:{a}-{b}", "isl", (a, b), f"inter-switch link {a}-{b}"))
    for intf in plan.interfaces:
        found.append(Component(f"link:{intf.host}-{intf.switch}", "host_link", (intf.host, intf.switch),
                               f"{intf.host}'s {intf.network} link to {intf.switch}"))
    layout = topology.layout
    for machine in layout.remote_machines():  # the local machine runs the testbed: it cannot fail in it
        nodes = tuple(layout.nodes_on(machine))
        found.append(Component(f"machine:{machine}", "machine", nodes, f"machine {machine} ({len(nodes)} nodes)"))
    found.append(Component("controller", "controller", (), "the OpenFlow controller"))
    if topology.services.enabled and topology.hosts_with_role("lb"):
        found.append(Component("vip", "vip", tuple(topology.hosts_with_role("lb")), f"the VIP {topology.vip.address}"))
    return list({c.address: c for c in found}.values())
