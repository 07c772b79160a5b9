"""Which pings prove the network is up: a number that grows with the hosts, not with their square.

What bring-up (and the health table) must know is that every host is attached and that the
fabric forwards on every network. Pinging every pair of hosts that share a network proves it
too, but costs n·(n-1) pings per network: 2,550 for the 51 hosts of the service network at 48
servers, each one a process and an ARP broadcast through the userspace datapath (and, until the
source is learned, a packet-in).
These pings prove the same with about n per network:

    1. a ring over the network's members, interleaved by switch:

         service:  lb1(s3) ─▶ lb2(s4) ─▶ server1(s3) ─▶ server2(s4) ─▶ ... ─▶ monitor(s4) ─┐
                    ▲                                                                      │
                    └──────────────────────────────────────────────────────────────────────┘

       every member sends one echo and answers one, so each interface is proven both ways
       (its link, its address, its ARP, the controller has learned it); interleaving makes
       most hops cross from one switch to another;

    2. for every ordered pair of switches that both carry members of the network, one ping
       from a member on the first to a member on the second, if the ring has none: the fabric
       forwards (and floods the ARP) between every two switches the network spans, whatever
       the ring's order happened to cover.

    pings per network <= members + switches·(switches - 1)   (default: 4 + 6 = 10, not 42)

A network with a single member has nothing to ping. NetworkPlan.reachable_pairs() still gives
every pair, for tests that want the exhaustive check on a small topology.
"""

from __future__ import annotations

import ipaddress
from itertools import zip_longest

from topo.plan import HostInterface, NetworkPlan

Probe = tuple[str, str, ipaddress.IPv4Address]  # (source host, destination host, destination address)


def _interleaved(members: list[HostInterface]) -> list[HostInterface]:
    """Members reordered so that neighbours sit on different switches where possible: one from
    each switch in turn (switches and members in plan order)."""
    by_switch: dict[str, list[HostInterface]] = {}
    for intf in members:
        by_switch.setdefault(intf.switch, []).append(intf)
    rounds = zip_longest(*by_switch.values())
    return [intf for turn in rounds for intf in turn if intf is not None]


def network_probes(members: list[HostInterface]) -> list[Probe]:
    """The pings for one network's members (see the module docstring)."""
    if len(members) < 2:
        return []
    ring = _interleaved(members)
    hops = [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]
    covered = {(src.switch, dst.switch) for src, dst in hops}
    first_on: dict[str, HostInterface] = {}
    for intf in members:
        first_on.setdefault(intf.switch, intf)
    for a, src in first_on.items():
        for b, dst in first_on.items():
            if a != b and (a, b) not in covered:
                hops.append((src, dst))
                covered.add((a, b))
    return [(src.host, dst.host, dst.ip) for src, dst in hops]


def probe_pairs(plan: NetworkPlan) -> list[Probe]:
    """Every network's pings, network by network (topology order)."""
    return [probe for network in plan.topology.networks for probe in network_probes(plan.members(network))]
