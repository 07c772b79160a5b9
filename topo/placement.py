"""Which machine each switch and host runs on, and which inter-switch links cross machines.

    machines:  {m1: local, m2: simulated}          placement: {s2: m2, s4: m2}

        m1 (this machine: topo/run.py, the controllers)        m2
        client1 ─ s1 ════════════════════════════════════════ s2 ─ client2
          lb1 ──┘ │                                            │ └── lb2
        server1 ─ s3 ════════════════════════════════════════ s4 ─ server2, monitor
       monitor2 ┘  ╲                                          ╱
                    s5 ─ server3  ═══════════════════════════╯
                   ════  a crossing link: VXLAN over the machines' underlay network

A switch goes where `placement` puts it, else on the local machine. A host goes where it is put
(by its name or its role: client, lb, server, monitor), else on its first switch's machine; every
switch a host plugs into must be on the host's machine, so only switch-to-switch links cross
machines (a host link stays a veth pair). A machine is `local` (exactly one), `simulated` (a
second machine emulated on this one: runtime/simmachine.py) or the IPv4 address of a real one,
reached by SSH as root.

The model layer only: no SSH, no namespaces. Errors are ValueErrors naming the field; topo/model.py
turns them into the file's one-line error.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

LOCAL = "local"
SIMULATED = "simulated"
ROLES = ("client", "lb", "server", "monitor")
# Machine names end up in interface names (the underlay veth "hbu-<name>i"): short and plain.
MACHINE_NAME = r"^[a-z][a-z0-9]{0,5}$"

# VXLAN adds 50 bytes (outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8) to every frame it carries,
# and the underlay is ordinary Ethernet (1500). A host link left at 1500 would send frames the
# tunnel cannot carry and nobody would be told (a switch drops them; no ICMP at layer 2), so in a
# split placement every host interface gets the tunnel's MTU.
UNDERLAY_MTU = 1500
VXLAN_OVERHEAD = 50
SPLIT_MTU = UNDERLAY_MTU - VXLAN_OVERHEAD
# The VXLAN network identifier of crossing link i (file order of switch_links) is VNI_BASE + i.
VNI_BASE = 4200
VXLAN_PORT = 4789  # IANA's VXLAN port


@dataclass(frozen=True)
class Placement:
    machines: dict[str, str]  # name → "local", "simulated" or an IPv4 address, in file order
    links: tuple[tuple[str, str], ...] = ()  # the topology's switch_links
    node_machine: dict[str, str] = field(default_factory=dict)  # every switch and host → machine
    crossing: tuple[int, ...] = ()  # indices into switch_links of the links that cross machines

    @property
    def split(self) -> bool:
        """More than one machine is in use."""
        return len(set(self.node_machine.values())) > 1

    @property
    def local(self) -> str:
        return next(name for name, kind in self.machines.items() if kind == LOCAL)

    def machine_of(self, node: str) -> str:
        return self.node_machine[node]

    def nodes_on(self, machine: str) -> list[str]:
        return [node for node, where in self.node_machine.items() if where == machine]

    def failed_nodes(self, addresses) -> set[str]:
        """The hosts and switches fault `addresses` take down: node:<name>, and all on a machine:<name>."""
        nodes = {a.removeprefix("node:") for a in addresses if a.startswith("node:")}
        for address in addresses:
            if address.startswith("machine:"):
                nodes |= set(self.nodes_on(address.removeprefix("machine:")))
        return nodes

    def remote_machines(self) -> list[str]:
        """Machines other than the local one that hold at least one node, in file order."""
        used = set(self.node_machine.values())
        return [name for name in self.machines if name != self.local and name in used]

    def simulated(self) -> list[str]:
        return [name for name, kind in self.machines.items() if kind == SIMULATED]

    @staticmethod
    def vni(link_index: int) -> int:
        return VNI_BASE + link_index


def single_machine(topology) -> Placement:
    """No `machines:`: everything on this machine, as before placement existed."""
    return Placement({"local": LOCAL}, tuple(map(tuple, topology.switch_links)),
                     {node: "local" for node in [*topology.switches, *topology.hosts]})


def resolve_placement(topology) -> Placement:
    """The placement of a topology (its `machines`, `placement`, switches, links and hosts);
    ValueError naming the field when it cannot be used."""
    machines, wanted = dict(topology.machines), dict(topology.placement)
    if not machines:
        if wanted:
            raise ValueError("placement: it names machines, but there is no `machines:` section")
        return single_machine(topology)
    _check_machines(machines)
    for key, machine in wanted.items():
        if key not in topology.switches and key not in topology.hosts and key not in ROLES:
            raise ValueError(f"placement.{key}: not a switch, host or role ({', '.join(ROLES)})")
        if machine not in machines:
            raise ValueError(f"placement.{key}: unknown machine {machine!r} (machines: {', '.join(machines)})")
    local = next(name for name, kind in machines.items() if kind == LOCAL)
    where = {switch: wanted.get(switch, local) for switch in topology.switches}
    for name, host in topology.hosts.items():
        switches = [intf.switch for intf in host.interfaces]
        machine = wanted.get(name, wanted.get(host.role, where[switches[0]]))
        for index, switch in enumerate(switches):
            if where[switch] != machine:
                how = (f"placement.{name}" if name in wanted else f"placement.{host.role}" if host.role in wanted
                       else f"hosts.{name}.interfaces.{index}")
                raise ValueError(f"{how}: {name} would be on {machine} but its interface {index} is on switch "
                                 f"{switch}, which is on {where[switch]}; a host stays on its switches' machine "
                                 "(only switch-to-switch links cross machines)")
        where[name] = machine
    for name, kind in machines.items():
        if kind != LOCAL and name not in where.values():
            raise ValueError(f"machines.{name}: nothing is placed on it (place a switch there, or leave it out)")
    crossing = tuple(i for i, (a, b) in enumerate(topology.switch_links) if where[a] != where[b])
    for index in crossing:
        a, b = (where[end] for end in topology.switch_links[index])
        if machines[a] == SIMULATED and machines[b] == SIMULATED:
            raise ValueError(f"switch_links.{index}: it joins {a} and {b}, both simulated; a simulated machine's "
                             "underlay goes to this machine only, so a crossing link needs the local machine at one end")
    return Placement(machines, tuple(map(tuple, topology.switch_links)), where, crossing)


def _check_machines(machines: dict[str, str]) -> None:
    for name, kind in machines.items():
        if not re.match(MACHINE_NAME, str(name)):
            raise ValueError(f"machines.{name}: a machine name is a lower-case letter, then at most 5 letters or digits")
        if kind in (LOCAL, SIMULATED):
            continue
        try:
            address = ipaddress.IPv4Address(str(kind))
        except ValueError:
            raise ValueError(f"machines.{name}: {kind!r} is not `local`, `simulated` or an IPv4 address") from None
        if address.is_loopback or address.is_unspecified or address.is_multicast:
            raise ValueError(f"machines.{name}: {address} cannot be another machine's address")
    locals_ = [name for name, kind in machines.items() if kind == LOCAL]
    if len(locals_) != 1:
        raise ValueError(f"machines: exactly one machine must be `local` (this one, where topo/run.py and the "
                         f"controllers run); {len(locals_)} are")
    addresses = [kind for kind in machines.values() if kind not in (LOCAL, SIMULATED)]
    if len(set(addresses)) != len(addresses):
        raise ValueError("machines: two machines share an address")


def describe(layout: Placement) -> list[str]:
    """What --check prints about a split placement: each machine and what runs there, then the
    crossing links with their VNIs."""
    if not layout.split:
        return []
    lines = [f"machine {name} ({kind}): {', '.join(layout.nodes_on(name)) or 'the controllers only'}"
             for name, kind in layout.machines.items()]
    links = ", ".join(f"{'-'.join(layout.links[i])} VNI {layout.vni(i)}" for i in layout.crossing)
    lines.append(f"crossing links (VXLAN, UDP {VXLAN_PORT}; every host interface MTU {SPLIT_MTU}): {links}")
    return lines
