"""Fault addresses: every fault a topology admits, listed from the model; an address parsed back.

    node:<host>                       crash a host (links down first)    NodeCrash
    processes:<host>                  every daemon of a host killed, its kernel still up  ProcessCrash
    node:<switch>                     a dead switch (every port down)    SwitchCrash
    daemon:<daemon>@<host>            kill one daemon (freeze=True: hang it)  DaemonKill / DaemonFreeze
    link:<a>-<b>                      cut a switch-switch or host-switch link  LinkDown
    partition:<hosts>|<hosts>         drop all traffic between two groups  Partition
    machine:<name>                    another machine down, all on it    MachineCrash (split placements)
    controller                        stop the OpenFlow controller       ControllerStop
    attack:<name>                     one Scapy attack row               Attack

catalogue(topology) needs no network: it lists the design's components (spof/components.py:
the model, the address plan and which daemons each role runs), then partitions and attacks. The partitions it lists are the ones a design review asks about, not all 2^n:
each tier against the next (clients|lbs, lbs|servers) and one member of a redundant role cut off
from its peers (lb1|lb2: can the pair split its brain? server1|server2,server3: the primary
alone). parse(address, testbed) builds the fault for a testbed (started or not: arguments are
checked at once); anything else is a FaultError naming the forms. Process crashes are listed
here, beside the node crashes, and are not components of the SPOF model: the model knows a host
up or down, and a host whose daemons died is down for it either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.faults.attack import Attack
from experiments.faults.attacks import ATTACKS
from experiments.faults.base import Fault, FaultError
from experiments.faults.controller import ControllerStop
from experiments.faults.daemon import DaemonFreeze, DaemonKill
from experiments.faults.link import LinkDown
from experiments.faults.machine import MachineCrash
from experiments.faults.node import NodeCrash, ProcessCrash, SwitchCrash
from experiments.faults.partition import Partition
from spof.components import components
from topo.plan import plan_network

FORMS = ("node:<host>, processes:<host>, daemon:<daemon>@<host>, link:<a>-<b>, partition:<hosts>|<hosts>, "
         "machine:<name>, controller, attack:<name>")


@dataclass(frozen=True)
class Entry:
    address: str
    description: str


def catalogue(topology) -> list[Entry]:
    """Every fault address that applies to `topology`, in a stable order, each with a description.
    Nodes, daemons, links and the controller are the design's components (spof/components.py,
    the same words the SPOF analysis judges); partitions and attacks are added here."""
    plan = plan_network(topology)
    found: dict[str, list] = {}
    for component in components(topology, plan):
        found.setdefault(component.kind, []).append(component)
    entries = []
    for host in found.get("host", []):
        spec = topology.hosts[host.where[0]]
        role = spec.role + (" (backup)" if spec.backup else "")
        entries.append(Entry(host.address, f"crash {host.where[0]}, {role}: interfaces down, then every daemon "
                                           "killed (a powered-off host: nothing leaves it)"))
    for host in found.get("host", []):
        entries.append(Entry(f"processes:{host.where[0]}", f"every daemon of {host.where[0]} killed, its links up "
                                                           "(the kernel refuses connections to dead ports)"))
    for switch in found.get("switch", []):
        entries.append(Entry(switch.address, f"switch {switch.where[0]} dead: every port down, its neighbours "
                                             "lose carrier"))
    for daemon in found.get("daemon", []):  # processes only: the firewall is a host setting
        name, host = daemon.address.removeprefix("daemon:").split("@")
        entries.append(Entry(daemon.address, f"SIGKILL {name} on {host} (its process group)"))
    for link in found.get("isl", []):
        a, b = link.where
        count = sum(1 for l in plan.switch_links if (l.a, l.b) == (a, b))
        entries.append(Entry(link.address, f"cut the inter-switch link {a}-{b}"
                                           + (f" ({count} parallel links, all)" if count > 1 else "")))
    for link in found.get("host_link", []):
        host, switch = link.where
        intf = next(i for i in plan.host_interfaces(host) if i.switch == switch)
        entries.append(Entry(link.address, f"cut {host}'s {intf.network} link ({intf.name} to {intf.switch_intf})"))
    for machine in found.get("machine", []):
        name = machine.address.removeprefix("machine:")
        entries.append(Entry(machine.address, f"machine {name} loses power: {', '.join(machine.where)} down at once"))
    for group_a, group_b, why in _partitions(topology):
        entries.append(Entry(f"partition:{','.join(group_a)}|{','.join(group_b)}", why))
    entries.append(Entry("controller", "stop the OpenFlow controller (switches keep their flows: fail-secure)"))
    for row in ATTACKS.values():
        if row.applies(topology) is None:
            entries.append(Entry(f"attack:{row.name}", f"{row.summary} (from {row.host(topology)})"))
    return entries


def _partitions(topology) -> list[tuple[list[str], list[str], str]]:
    by_role = {role: topology.hosts_with_role(role) for role in ("client", "lb", "server")}
    found = []
    for (ra, rb) in (("client", "lb"), ("lb", "server")):
        if by_role[ra] and by_role[rb]:
            found.append((by_role[ra], by_role[rb], f"cut every {ra} off from every {rb}"))
    for role in ("lb", "server"):
        members = by_role[role]
        if len(members) >= 2:
            found.append(([members[0]], members[1:], f"cut {members[0]} off from the other {role}s"))
    return found


def catalogue_lines(topology) -> list[str]:
    """The catalogue as aligned text lines, address then description (--list-faults, `faults`)."""
    entries = catalogue(topology)
    width = max((len(e.address) for e in entries), default=0)
    return [f"{entry.address:<{width}}  {entry.description}" for entry in entries]


def parse(address: str, testbed, *, freeze: bool = False, rng=None) -> Fault:
    """The fault an address names, for `testbed`. FaultError if the address is malformed or names
    something the topology does not have."""
    kind, colon, rest = address.strip().partition(":")
    if address.strip() == "controller":
        return ControllerStop(testbed)
    if not colon or not rest:
        raise FaultError(f"unknown fault address {address!r}; the forms are {FORMS}")
    if kind == "node":
        return SwitchCrash(testbed, rest) if rest in testbed.topology.switches else NodeCrash(testbed, rest)
    if kind == "processes":
        return ProcessCrash(testbed, rest)
    if kind == "daemon":
        daemon, at, host = rest.partition("@")
        if not at or not daemon or not host:
            raise FaultError(f"bad daemon address {address!r}: use daemon:<daemon>@<host>, e.g. daemon:haproxy@lb1")
        return DaemonFreeze(testbed, host, daemon) if freeze else DaemonKill(testbed, host, daemon)
    if kind == "link":
        pair = testbed.topology.split_pair(rest)
        if pair is None:
            raise FaultError(f"bad link address {address!r}: use link:<a>-<b> with two switches or a host and its "
                             f"switch, e.g. link:s1-s2 or link:lb1-s1")
        return LinkDown(testbed, *pair)
    if kind == "partition":
        left, bar, right = rest.partition("|")
        if not bar:
            raise FaultError(f"bad partition address {address!r}: use partition:<hosts>|<hosts>, "
                             "e.g. partition:lb1|lb2")
        return Partition(testbed, [h for h in left.split(",") if h], [h for h in right.split(",") if h])
    if kind == "attack":
        return Attack(testbed, rest, rng=rng)
    if kind == "machine":
        return MachineCrash(testbed, rest)
    raise FaultError(f"unknown fault address {address!r}; the forms are {FORMS}")

