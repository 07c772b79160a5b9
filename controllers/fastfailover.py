"""Fast-failover groups: the switch itself moves traffic off a dead inter-switch link.

An OpenFlow 1.3 fast-failover group forwards with its first bucket whose watch port is live.
Open vSwitch re-evaluates liveness as soon as it sees a port lose carrier, so a link cut is
rerouted inside the switch, with no controller round trip (and with no controller at all)::

    host ── s1 ══✗══ s2 ── dst         group "to s2, from a host" on s1:
             ║        ║                   bucket watch 1 -> output 1     primary (shortest path)
            s4 ══════ s3                  bucket watch 2 -> output 2     backup (way round)

A backup can send a frame to a neighbour whose own primary leads straight back (on a 4-ring
s4 may reach s2 through s1 or s3 at the same cost). So every switch has one group per
(destination switch, in_port), and a bucket for "back out of the port it came in on"
(OFPP_IN_PORT), which a ring needs: the frame must turn round to go the other way::

    s4, to s2, in_port from s1:   watch 1 -> output 1 (s3)      watch 2 -> output IN_PORT (s1)

Buckets are ordered: the controller's current shortest-path next hop, then live links before
dead ones, then by the neighbour's distance to the destination *without passing back through
this switch*, then by port. Two rules keep a frame from circling: a neighbour that cannot reach
the destination without coming back here gets no bucket; and a frame arriving *from* this
switch's own next hop has been sent back (traffic never climbs the shortest-path tree), so
that neighbour is the very last resort. The unit tests walk every single cut on rings, a full
mesh, a ladder and random two-connected graphs without a loop.

This protects against one link failure between recomputations; the controller still recomputes
every path after the port-status (the groups are then rebuilt for the new topology). Broadcast
(ARP requests) follows the flood spanning tree and is only repaired by the controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import networkx as nx

IN_PORT = "in_port"  # bucket output: back out of the port the frame came in on
FROM_HOST = 0  # in_port part of a group id: frames from an edge port (or any port without its own group)
MAX_GROUP_PORT = 0xFFFF  # the in_port part of a group id has 16 bits


@dataclass(frozen=True)
class GroupSpec:
    """One fast-failover group on one switch, independent of any OpenFlow library.

    buckets: ((watch_port, out), ...) where out is a port number or IN_PORT.
    """

    dpid: int
    group_id: int
    buckets: tuple[tuple[int, int | str], ...]

    @property
    def key(self) -> tuple[int, int]:
        return (self.dpid, self.group_id)


def group_id(dst_index: int, in_port: int = FROM_HOST) -> int:
    """Group id for (destination switch number 1..n, in_port or FROM_HOST): deterministic, so
    every controller instance computes the same ids."""
    if not 0 <= in_port <= MAX_GROUP_PORT:
        raise ValueError(f"port {in_port} does not fit a fast-failover group id (max {MAX_GROUP_PORT})")
    return (dst_index << 16) | in_port


def bucket_order(dpid: int, dst: int, isl: Mapping[int, tuple[int, bool]], live: nx.Graph,
                 primary: int | None, in_port: int = FROM_HOST) -> tuple[tuple[int, int | str], ...]:
    """Buckets of the group on ``dpid`` towards switch ``dst`` for frames from ``in_port``.

    isl:     this switch's inter-switch ports -> (neighbour dpid, link live now)
    live:    the switches and live links (networkx graph of dpids)
    primary: the current shortest-path next-hop port towards ``dst`` (None if unreachable)
    """
    without_me = live.copy()
    if dpid in without_me:
        without_me.remove_node(dpid)
    distance = nx.single_source_shortest_path_length(without_me, dst) if dst in without_me else {}

    def reach(port: int) -> int | None:
        neighbour = isl[port][0]
        return 0 if neighbour == dst else distance.get(neighbour)

    usable = [p for p in isl if reach(p) is not None]
    # A frame from my own next hop has come back (traffic never flows up the shortest-path
    # tree): that way is broken, so back there only if nothing else is left. A frame from any
    # other neighbour may turn round like any backup: on a ring it must.
    returned = in_port == primary
    usable.sort(key=lambda p: (p == in_port and returned, p != primary or p == in_port, not isl[p][1],
                               reach(p), p == in_port, p))
    return tuple((p, IN_PORT if p == in_port else p) for p in usable)


def failover_groups(dpids: Sequence[int], isl: Mapping[int, Mapping[int, tuple[int, bool]]],
                    peer: Mapping[tuple[int, int], tuple[int, int]], live: nx.Graph,
                    primaries: Mapping[tuple[int, int], int | None]) -> tuple[dict[int, list[GroupSpec]], int]:
    """Every switch's groups: for each other switch, one for frames from hosts and one per
    inter-switch in_port; then ``prune_loops``. Returns ({dpid: groups}, buckets pruned).

    isl:       dpid -> {port: (neighbour dpid, link live now)}
    peer:      (dpid, port) -> (neighbour dpid, its port) for every inter-switch port
    primaries: (dpid, destination dpid) -> shortest-path port (or None)
    """
    index = {dst: i for i, dst in enumerate(sorted(dpids), start=1)}
    buckets: dict[tuple[int, int, int], list] = {}
    for dpid in dpids:
        for dst in dpids:
            if dst == dpid or not isl[dpid]:
                continue
            for in_port in (FROM_HOST, *sorted(isl[dpid])):
                buckets[(dpid, dst, in_port)] = list(
                    bucket_order(dpid, dst, isl[dpid], live, primaries.get((dpid, dst)), in_port))
    pruned = prune_loops(buckets, isl, peer)
    groups: dict[int, list[GroupSpec]] = {d: [] for d in dpids}
    for (dpid, dst, in_port), chosen in sorted(buckets.items()):
        groups[dpid].append(GroupSpec(dpid, group_id(index[dst], in_port), tuple(chosen)))
    return groups, pruned


def prune_loops(buckets: dict[tuple[int, int, int], list], isl: Mapping[int, Mapping[int, tuple[int, bool]]],
                peer: Mapping[tuple[int, int], tuple[int, int]]) -> int:
    """Walk a frame from every switch's hosts to every other switch with each live link cut in
    turn (links already dead stay dead). Where the groups would send it round in a circle,
    remove the bucket that closes the circle, so such a frame is dropped instead (until the
    controller recomputes) and never circles. Repeats until no walk loops; returns how many
    buckets went. Rings, full meshes and ladders need none; some irregular graphs do."""
    dead_now = {(d, p) for d, ports in isl.items() for p, (_, up) in ports.items() if not up}
    cuts = sorted({tuple(sorted([(d, p), peer[(d, p)]])) for d, ports in isl.items() for p, (_, up) in ports.items()
                   if up})
    pruned = 0
    while True:
        closing = _first_loop(buckets, peer, dead_now, cuts)
        if closing is None:
            return pruned
        key, bucket = closing
        buckets[key].remove(bucket)
        pruned += 1


def _first_loop(buckets, peer, dead_now, cuts):
    """(group key, bucket) whose use closes a forwarding circle under some single cut, or None."""
    switches = sorted({key[0] for key in buckets})
    for cut in cuts:
        dead = dead_now | set(cut)
        for src in switches:
            for dst in switches:
                if src == dst:
                    continue
                state, seen = (src, FROM_HOST), set()
                while state[0] != dst:
                    seen.add(state)
                    key = (state[0], dst, state[1])
                    live = [b for b in buckets.get(key, []) if (state[0], b[0]) not in dead]
                    if not live:
                        break  # dropped: not a loop
                    out = state[1] if live[0][1] == IN_PORT else live[0][1]
                    state = peer[(state[0], out)]
                    if state in seen:
                        return key, live[0]
    return None
