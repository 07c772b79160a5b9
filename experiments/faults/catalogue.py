"""Fault addresses: every fault a topology admits, listed from the model; an address parsed back.

    node:<host>                       crash a host                       NodeCrash
    node:<switch>                     a dead switch (every port down)    SwitchCrash
    daemon:<daemon>@<host>            kill one daemon (freeze=True: hang it)  DaemonKill / DaemonFreeze
    link:<a>-<b>                      cut a switch-switch or host-switch link  LinkDown
    partition:<hosts>|<hosts>         drop all traffic between two groups  Partition
    controller                        stop the OpenFlow controller       ControllerStop
    attack:<name>                     one Scapy attack row               Attack

catalogue(topology) needs no network: it reads the model, the address plan and which daemons
each role runs. The partitions it lists are the ones a design review asks about, not all 2^n:
each tier against the next (clients|lbs, lbs|servers) and one member of a redundant role cut off
from its peers (lb1|lb2: can the pair split its brain? server1|server2,server3: the primary
alone). parse(address, testbed) builds the fault for a testbed (started or not: arguments are
checked at once); anything else is a FaultError naming the forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiments.faults.attack import Attack
from experiments.faults.attacks import ATTACKS
from experiments.faults.base import Fault, FaultError
from experiments.faults.controller import ControllerStop
from experiments.faults.daemon import DaemonFreeze, DaemonKill
from experiments.faults.link import LinkDown
from experiments.faults.node import NodeCrash, SwitchCrash
from experiments.faults.partition import Partition
from hosts.roles import daemons_for
from hosts.site import Site
from topo.plan import plan_network

FORMS = "node:<host>, daemon:<daemon>@<host>, link:<a>-<b>, partition:<hosts>|<hosts>, controller, attack:<name>"


@dataclass(frozen=True)
class Entry:
    address: str
    description: str


def catalogue(topology) -> list[Entry]:
    """Every fault address that applies to `topology`, in a stable order, each with a description."""
    plan = plan_network(topology)
    entries = []
    for host, spec in topology.hosts.items():
        role = spec.role + (" (backup)" if spec.backup else "")
        entries.append(Entry(f"node:{host}", f"crash {host}, {role}: every daemon killed, interfaces down"))
    for switch in topology.switches:
        entries.append(Entry(f"node:{switch}", f"switch {switch} dead: every port down, its neighbours lose carrier"))
    if topology.services.enabled:
        # Paths are never touched: a placeholder run directory is enough to ask which daemons run.
        for daemon in daemons_for(Site(plan, Path("/nonexistent"))):
            if daemon.command() is not None:  # the firewall is a host setting, not a process
                entries.append(Entry(f"daemon:{daemon.name}@{daemon.host}",
                                     f"SIGKILL {daemon.name} on {daemon.host} (its process group)"))
    for a, b in dict.fromkeys((link.a, link.b) for link in plan.switch_links):
        count = sum(1 for link in plan.switch_links if (link.a, link.b) == (a, b))
        entries.append(Entry(f"link:{a}-{b}", f"cut the inter-switch link {a}-{b}"
                                              + (f" ({count} parallel links, all)" if count > 1 else "")))
    for intf in plan.interfaces:
        entries.append(Entry(f"link:{intf.host}-{intf.switch}",
                             f"cut {intf.host}'s {intf.network} link ({intf.name} to {intf.switch_intf})"))
    for group_a, group_b, why in _partitions(topology):
        entries.append(Entry(f"partition:{','.join(group_a)}|{','.join(group_b)}", why))
    entries.append(Entry("controller", "stop the OpenFlow controller (switches keep their flows: fail-secure)"))
    for row in ATTACKS.values():
        if row.applies(topology) is None:
            entries.append(Entry(f"attack:{row.name}", f"{row.summary} (from {row.host(topology)})"))
    return list({e.address: e for e in entries}.values())  # a host with two legs on one switch: once


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
    if kind == "daemon":
        daemon, at, host = rest.partition("@")
        if not at or not daemon or not host:
            raise FaultError(f"bad daemon address {address!r}: use daemon:<daemon>@<host>, e.g. daemon:haproxy@lb1")
        return DaemonFreeze(testbed, host, daemon) if freeze else DaemonKill(testbed, host, daemon)
    if kind == "link":
        a, b = _link_ends(rest, testbed.topology, address)
        return LinkDown(testbed, a, b)
    if kind == "partition":
        left, bar, right = rest.partition("|")
        if not bar:
            raise FaultError(f"bad partition address {address!r}: use partition:<hosts>|<hosts>, "
                             "e.g. partition:lb1|lb2")
        return Partition(testbed, [h for h in left.split(",") if h], [h for h in right.split(",") if h])
    if kind == "attack":
        return Attack(testbed, rest, rng=rng)
    raise FaultError(f"unknown fault address {address!r}; the forms are {FORMS}")


def _link_ends(text: str, topology, address: str) -> tuple[str, str]:
    """Split "a-b" where a or b may itself contain '-': the split whose both sides are nodes."""
    nodes = set(topology.switches) | set(topology.hosts)
    for i, char in enumerate(text):
        if char == "-" and text[:i] in nodes and text[i + 1:] in nodes:
            return text[:i], text[i + 1:]
    raise FaultError(f"bad link address {address!r}: use link:<a>-<b> with two switches or a host and its "
                     f"switch, e.g. link:s1-s2 or link:lb1-s1")
