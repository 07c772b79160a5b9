"""Edge guards: on an edge port only the attached host's own addresses may appear as source.

Enterprise switches call these IP source guard and dynamic ARP inspection; here they are built
from the topology the controller is told (the ``edges`` of the fabric JSON: which host, with
which MAC and addresses, is on which switch port), so a new host in the YAML needs no code.
A load balancer's front port may also claim the VIP, the only port that may.

Table 0 of every switch (the learning and forwarding tables follow it, see fabric.py)::

    prio 300 in_port=E, eth_src=M, ip,  ipv4_src=A              -> goto TABLE_LEARN
    prio 300 in_port=E, eth_src=M, arp, arp_sha=M, arp_spa=A    -> goto TABLE_LEARN
             (one pair per address A the host owns on that leg; a balancer's front leg: + the VIP)
    prio 100 in_port=E                                          -> drop  (counted: n_packets)
    prio   0 (miss: inter-switch ports, undescribed ports)     -> goto TABLE_LEARN

IPv4 and ARP are all the testbed's hosts send (IPv6 is off in every namespace), so "everything
else is dropped" costs nothing legitimate. The per-port drop entry's packet counter is the
per-port count of what the guard stopped (``ovs-ofctl dump-flows <switch> table=0``).
With guards off the table holds the miss entry only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

TABLE_GUARD = 0
PRIO_GUARD_ALLOW = 300
PRIO_GUARD_DROP = 100
PRIO_GUARD_MISS = 0
ETH_IP, ETH_ARP = 0x0800, 0x0806


@dataclass(frozen=True)
class Edge:
    """A host attached to switch port ``port`` of ``dpid``, with the addresses it may send from."""

    dpid: int
    port: int
    host: str
    mac: str
    addresses: tuple[str, ...]


def guard_flows(dpid: int, edges: Sequence[Edge], enabled: bool, next_table: int, flow) -> list:
    """Table-0 entries of ``dpid``; ``flow(dpid, table, priority, match, actions)`` builds one
    (fabric.FlowSpec: this module does not import it, so fabric can import this one)."""
    onward = (("goto", next_table),)
    flows = [flow(dpid, TABLE_GUARD, PRIO_GUARD_MISS, {}, onward)]
    if not enabled:
        return flows
    for edge in sorted((e for e in edges if e.dpid == dpid), key=lambda e: e.port):
        for address in edge.addresses:
            flows.append(flow(dpid, TABLE_GUARD, PRIO_GUARD_ALLOW,
                              {"in_port": edge.port, "eth_src": edge.mac, "eth_type": ETH_IP,
                               "ipv4_src": address}, onward))
            flows.append(flow(dpid, TABLE_GUARD, PRIO_GUARD_ALLOW,
                              {"in_port": edge.port, "eth_src": edge.mac, "eth_type": ETH_ARP,
                               "arp_sha": edge.mac, "arp_spa": address}, onward))
        flows.append(flow(dpid, TABLE_GUARD, PRIO_GUARD_DROP, {"in_port": edge.port}, ()))
    return flows
