"""Forwarding decisions of the testbed's OpenFlow 1.3 controller (plain Python + networkx).

The controller is *told* the switch fabric (a JSON file written by the testbed) instead of
discovering it: switches with their datapath ids, and the inter-switch links ("ISL") with the
port number on each side. Every other port of a switch is an edge (host) port. Hosts are
*learned*, only from packets arriving on edge ports.

This module holds all state and all decisions and knows nothing about os-ken: events go in
(``switch_connected``, ``set_ports``, ``set_port_state``, ``learn``), and ``sync()`` returns,
per switch, the flow entries to add/overwrite and to delete, as plain data (``FlowSpec``).
``controllers/app.py`` only translates them into OpenFlow messages.

Pipeline installed on every switch::

    packet --> TABLE 0 (edge guards, controllers/guards.py: a host's own addresses only) --> goto 1
           --> TABLE 1 (learning) -------------------------> TABLE 2 (forwarding)
               prio 200 in_port=EDGE,eth_src=M -> goto 2      prio 100 eth_dst=M -> output:P
                        (host M already learned there)                 P = next hop on a shortest
               prio 100 in_port=ISL           -> goto 2                path over live links, or
                        (never learn from the fabric)                  M's edge port on its switch
               prio   0 (miss) -> CONTROLLER(128 bytes)       prio  10 in_port=X -> output to every
                                  + goto 2                             edge port and spanning-tree
                        (packet is forwarded at once; the              port except X
                         controller only learns from it)      prio  10 in_port=non-tree ISL -> drop
                                                              (miss: drop)

With fast failover on (the fabric JSON's "fast_failover"), a MAC on another switch is reached
through fast-failover groups instead of a plain output, so the switch reroutes a link cut by
itself (controllers/fastfailover.py)::

    TABLE 2  prio 110 in_port=ISL X,eth_dst=M -> group "to M's switch, from X" (no U-turn to X)
             prio 100 eth_dst=M               -> group "to M's switch, from a host"

Partitions (``add_partition``: two groups of host MACs that must not hear each other) add::

    TABLE 1  prio 1000 eth_src=A,eth_dst=B -> drop     TABLE 2  prio 20 in_port=X,eth_src=A,
             (and B->A; on every switch)                        eth_dst=group/01:00:00:00:00:00
                                                                -> the flood of X minus the
                                                                   ports of B's hosts here

so neither unicast nor broadcast/multicast (ARP, VRRP adverts) from one side reaches the other.
Group frames are filtered where a host of the other side is attached (its learned port): a host
never learned gets them. ``control()`` turns the controller's control-channel requests
(``{"op": "partition" | "heal" | "status", ...}``) into these calls.

Broadcast, multicast and unknown unicast follow the per-in_port flood entries, i.e. a spanning
tree of the live links, so loops in the fabric (the default is a ring) cannot cause a storm.
Known unicast follows shortest paths, which may use non-tree links.

Updates are make-before-break: a changed entry is re-added with the same table, priority and
match (OFPFC_ADD overwrites it in place in Open vSwitch), and only entries that no longer apply
are deleted, after the additions.

The spanning tree is *sticky*: after a change it keeps every still-live tree link and only adds
links to reconnect components. So the union of the old and the new tree never contains a loop
and switches that momentarily run with a mix of old and new flood entries cannot form a
broadcast loop (a new link coming up is only added if it joins two components).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import networkx as nx

from controllers.fastfailover import FROM_HOST, MAX_GROUP_PORT, GroupSpec, failover_groups, group_id
from controllers.guards import Edge, guard_flows

# --- pipeline constants -------------------------------------------------------------------

TABLE_LEARN = 1
TABLE_FORWARD = 2  # runtime/observe.py reads it (FORWARD_TABLE there; a unit test keeps them equal)

PRIO_MISS = 0  # learning table: send to controller and continue to forwarding
PRIO_ISL_IN = 100  # learning table: packets from the fabric skip learning
PRIO_HOST_SRC = 200  # learning table: already-learned host on its edge port
PRIO_FLOOD = 10  # forwarding table: per in_port flood along the spanning tree
PRIO_HOST_DST = 100  # forwarding table: known destination MAC
PRIO_HOST_DST_FROM_ISL = 110  # forwarding table, fast failover: known MAC, frame from a neighbour
PRIO_PARTITION = 1000  # learning table: drop unicast between the two sides of a partition
PRIO_PARTITION_FLOOD = 20  # forwarding table: flood without the other side's ports (group frames)

# eth_dst value/mask matching every group (broadcast and multicast) address.
GROUP_DST = ("01:00:00:00:00:00", "01:00:00:00:00:00")
MAX_PARTITION_NAME = 64

CONTROLLER_MAX_LEN = 128  # bytes of each packet-in: enough for Ethernet + ARP/IP headers

OFPP_MAX = 0xFFFFFF00  # port numbers >= this are reserved (LOCAL, CONTROLLER, ...)

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class FabricError(ValueError):
    """A fabric description (file or dict) is invalid."""


# --- plain data -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Link:
    """One inter-switch link: port ``a_port`` of switch ``a`` to port ``b_port`` of ``b``."""

    a: str
    a_port: int
    b: str
    b_port: int
    a_dpid: int
    b_dpid: int

    @property
    def ends(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((dpid, port), (dpid, port)) of the two sides."""
        return (self.a_dpid, self.a_port), (self.b_dpid, self.b_port)

    @property
    def sort_key(self) -> tuple:
        return tuple(sorted(self.ends))

    def port_on(self, dpid: int) -> int:
        if dpid == self.a_dpid:
            return self.a_port
        if dpid == self.b_dpid:
            return self.b_port
        raise ValueError(f"link {self} does not touch dpid {dpid}")

    def other(self, dpid: int) -> int:
        """The dpid at the other end of the link from ``dpid``."""
        if dpid == self.a_dpid:
            return self.b_dpid
        if dpid == self.b_dpid:
            return self.a_dpid
        raise ValueError(f"link {self} does not touch dpid {dpid}")

    def as_dict(self) -> dict:
        return {"a": self.a, "a_port": self.a_port, "b": self.b, "b_port": self.b_port}

    def __str__(self) -> str:
        return f"{self.a}:{self.a_port}-{self.b}:{self.b_port}"


@dataclass(frozen=True)
class FlowSpec:
    """One flow entry, independent of any OpenFlow library.

    match:   OXM field name -> value, e.g. {"in_port": 3, "eth_src": "00:00:00:00:00:01"}
    actions: tuple of ("output", port) | ("group", group id) | ("controller", max_len) |
             ("goto", table); an empty tuple means drop.
    """

    dpid: int
    table: int
    priority: int
    match: Mapping[str, object]
    actions: tuple

    @property
    def key(self) -> tuple:
        """Identity of the entry in the switch: OFPFC_ADD with the same key overwrites it."""
        return (self.dpid, self.table, self.priority, tuple(sorted(self.match.items())))

    @property
    def out_ports(self) -> tuple[int, ...]:
        return tuple(a[1] for a in self.actions if a[0] == "output")


@dataclass
class FlowDelta:
    """What to send to one switch: ``groups`` (add-or-modify, before the flows that use them),
    ``add`` (OFPFC_ADD, overwrites), then ``delete``."""

    dpid: int
    add: list[FlowSpec] = field(default_factory=list)
    delete: list[FlowSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.add) + len(self.delete) + len(self.groups)


@dataclass(frozen=True)
class LinkChange:
    link: Link
    up: bool


@dataclass(frozen=True)
class LearnOutcome:
    """Result of ``Fabric.learn``. kind: "ignored" | "known" | "new" | "moved"."""

    kind: str
    mac: str
    dpid: int
    port: int
    old: tuple[int, int] | None = None  # (dpid, port) before a move
    reason: str = ""  # why it was ignored

    @property
    def changed(self) -> bool:
        return self.kind in ("new", "moved")


@dataclass(frozen=True)
class Partition:
    """Two disjoint groups of host MACs that the fabric keeps apart (both directions)."""

    name: str
    macs_a: frozenset[str]
    macs_b: frozenset[str]

    def as_dict(self) -> dict:
        return {"name": self.name, "macs_a": sorted(self.macs_a), "macs_b": sorted(self.macs_b)}


@dataclass(frozen=True)
class ControlOutcome:
    """What ``control()`` decided for one control-channel request.

    reply:  the JSON-serialisable answer ({"ok": True, ...}); the app adds timestamps.
    event:  journal event to write once the resulting flows are in place on the switches
            ("partition_installed", "partition_removed"), or None (nothing to install).
    fields: the journal event's fields.
    """

    reply: dict
    event: str | None = None
    fields: dict = field(default_factory=dict)


def normalize_mac(mac: str | bytes) -> str:
    """'AA-BB-..' / 'aa:bb:..' / 6 raw bytes -> 'aa:bb:cc:dd:ee:ff'. Raises ValueError."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, got {len(mac)}")
        return ":".join(f"{b:02x}" for b in mac)
    text = str(mac).strip().lower().replace("-", ":")
    if not _MAC_RE.match(text):
        raise ValueError(f"not a MAC address: {mac!r}")
    return text


def is_unicast_mac(mac: str) -> bool:
    """True for an individual (non-group), non-zero MAC: only those can be a host's source."""
    first = int(mac[:2], 16)
    return not (first & 1) and mac != "00:00:00:00:00:00"


def _valid_port(port: object) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 0 < port < OFPP_MAX


# --- the fabric -----------------------------------------------------------------------------


class Fabric:
    """State of the switch fabric and every forwarding decision.

    Not thread-safe: the os-ken app calls it from its single event thread.
    """

    def __init__(self, switches: Mapping[str, int], links: Sequence[Link], edges: Sequence[Edge] = (),
                 guards: bool = False, fast_failover: bool = False):
        self._edges: tuple[Edge, ...] = tuple(edges)
        self._guards = guards
        self.fast_failover = fast_failover
        self._dpid_of: dict[str, int] = dict(switches)
        self._name_of: dict[int, str] = {d: n for n, d in self._dpid_of.items()}
        self._links: tuple[Link, ...] = tuple(sorted(links, key=lambda l: l.sort_key))
        # (dpid, port) -> Link, for the ISL ports.
        self._link_at: dict[tuple[int, int], Link] = {}
        for link in self._links:
            for end in link.ends:
                self._link_at[end] = link
        # Port state as reported by the switches. An ISL port never reported is assumed up
        # (optimistic until its switch connects and sends its port list).
        self._port_up: dict[tuple[int, int], bool] = {}
        # Non-ISL ports each switch has reported (or a host was learned on).
        self._edge_ports: dict[int, set[int]] = {d: set() for d in self._name_of}
        self._hosts: dict[str, tuple[int, int]] = {}  # mac -> (dpid, edge port)
        self._connected: set[int] = set()
        self._installed: dict[int, dict[tuple, FlowSpec]] = {}  # what sync() last pushed
        self._installed_groups: dict[int, dict[tuple, GroupSpec]] = {}
        self._tree: frozenset[Link] = frozenset()
        self._next_hops: dict[int, dict[int, int]] = {}  # dst dpid -> {dpid: out port}
        self._partitions: dict[str, Partition] = {}
        self.pruned_buckets = 0  # fast-failover buckets dropped because they would close a loop
        self._recompute_topology()

    # ---- construction ----

    @classmethod
    def from_dict(cls, data: object) -> "Fabric":
        """Build from the parsed fabric JSON. Raises FabricError (a ValueError) when invalid."""
        if not isinstance(data, Mapping):
            raise FabricError("fabric: top level must be an object with 'switches' and 'links'")
        switches_raw = data.get("switches")
        if not isinstance(switches_raw, Mapping) or not switches_raw:
            raise FabricError("fabric: 'switches' must be a non-empty object {name: {dpid: int}}")
        switches: dict[str, int] = {}
        seen_dpids: dict[int, str] = {}
        for name, spec in switches_raw.items():
            if not isinstance(name, str) or not name:
                raise FabricError(f"fabric: switch name must be a non-empty string, got {name!r}")
            if not isinstance(spec, Mapping) or "dpid" not in spec:
                raise FabricError(f"fabric: switches.{name} must be an object with a 'dpid'")
            dpid = spec["dpid"]
            if not isinstance(dpid, int) or isinstance(dpid, bool) or not 0 < dpid < 2**64:
                raise FabricError(
                    f"fabric: switches.{name}.dpid must be an integer in 1..2^64-1, got {dpid!r}"
                )
            if dpid in seen_dpids:
                raise FabricError(
                    f"fabric: switches {seen_dpids[dpid]} and {name} have the same dpid {dpid}"
                )
            seen_dpids[dpid] = name
            switches[name] = dpid

        links_raw = data.get("links", [])
        if not isinstance(links_raw, list):
            raise FabricError("fabric: 'links' must be a list")
        links: list[Link] = []
        used: dict[tuple[str, int], int] = {}
        for i, spec in enumerate(links_raw):
            where = f"fabric: links[{i}]"
            if not isinstance(spec, Mapping):
                raise FabricError(f"{where} must be an object with a, a_port, b, b_port")
            for key in ("a", "a_port", "b", "b_port"):
                if key not in spec:
                    raise FabricError(f"{where} is missing {key!r}")
            a, b = spec["a"], spec["b"]
            for side in (a, b):
                if side not in switches:
                    raise FabricError(f"{where} names unknown switch {side!r}")
            if a == b:
                raise FabricError(f"{where} connects {a} to itself")
            for port_key in ("a_port", "b_port"):
                if not _valid_port(spec[port_key]):
                    raise FabricError(
                        f"{where}.{port_key} must be an integer port number in "
                        f"1..{OFPP_MAX - 1}, got {spec[port_key]!r}"
                    )
            for sw, port in ((a, spec["a_port"]), (b, spec["b_port"])):
                if (sw, port) in used:
                    raise FabricError(
                        f"{where}: port {sw}:{port} is already used by links[{used[(sw, port)]}]"
                    )
                used[(sw, port)] = i
            links.append(
                Link(a, spec["a_port"], b, spec["b_port"], switches[a], switches[b])
            )
        edges = _edges_from(data.get("edges", []), switches, used)
        flags = {}
        for key in ("edge_guards", "fast_failover"):
            flags[key] = data.get(key, False)
            if not isinstance(flags[key], bool):
                raise FabricError(f"fabric: {key!r} must be true or false, got {flags[key]!r}")
        if flags["fast_failover"]:
            for link in links:
                if max(link.a_port, link.b_port) > MAX_GROUP_PORT:
                    raise FabricError(f"fabric: link {link}: fast failover needs inter-switch port "
                                      f"numbers up to {MAX_GROUP_PORT}")
        return cls(switches, links, edges, flags["edge_guards"], flags["fast_failover"])

    @classmethod
    def from_json(cls, text: str) -> "Fabric":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FabricError(f"fabric: not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str) -> "Fabric":
        """Raises FabricError for bad content, OSError if the file cannot be read."""
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        return cls.from_json(text)

    # ---- static description ----

    @property
    def switches(self) -> dict[str, int]:
        """name -> dpid."""
        return dict(self._dpid_of)

    @property
    def dpids(self) -> list[int]:
        return sorted(self._name_of)

    @property
    def links(self) -> tuple[Link, ...]:
        return self._links

    def name_of(self, dpid: int) -> str:
        return self._name_of[dpid]

    def dpid_of(self, name: str) -> int:
        return self._dpid_of[name]

    def knows(self, dpid: int) -> bool:
        return dpid in self._name_of

    def _check(self, dpid: int) -> None:
        if dpid not in self._name_of:
            raise KeyError(f"dpid {dpid} is not in the fabric")

    def link_at(self, dpid: int, port: int) -> Link | None:
        """The ISL on this port, or None for an edge port."""
        return self._link_at.get((dpid, port))

    def is_isl_port(self, dpid: int, port: int) -> bool:
        return (dpid, port) in self._link_at

    def port_kind(self, dpid: int, port: int) -> str:
        """'isl' for a listed inter-switch port, 'reserved' for LOCAL and other reserved
        numbers, 'edge' for any other port."""
        self._check(dpid)
        if not _valid_port(port):
            return "reserved"
        return "isl" if self.is_isl_port(dpid, port) else "edge"

    def isl_ports(self, dpid: int) -> list[int]:
        self._check(dpid)
        return sorted(p for (d, p) in self._link_at if d == dpid)

    def edge_ports(self, dpid: int) -> list[int]:
        """Edge ports the switch has reported (or a host was learned on)."""
        self._check(dpid)
        return sorted(self._edge_ports[dpid])

    # ---- switch and port events ----

    def switch_connected(self, dpid: int) -> None:
        """The switch (re)connected and its flow tables were wiped: next sync() sends all."""
        self._check(dpid)
        self._connected.add(dpid)
        self._installed[dpid] = {}
        self._installed_groups[dpid] = {}

    def switch_disconnected(self, dpid: int) -> None:
        """No more flow pushes to it. Its links are left as they are: with fail-mode secure
        it keeps forwarding with its current entries, and on reconnect it is wiped."""
        self._connected.discard(dpid)
        self._installed.pop(dpid, None)
        self._installed_groups.pop(dpid, None)

    @property
    def connected(self) -> list[int]:
        return sorted(self._connected)

    def set_ports(self, dpid: int, ports: Mapping[int, bool]) -> list[LinkChange]:
        """Full port list of a switch (port number -> up), e.g. from a port-desc reply.

        Reserved ports (LOCAL...) are ignored; ISL ports missing from the list count as down.
        Returns the links whose liveness changed.
        """
        self._check(dpid)
        before = self._liveness()
        ports = {p: bool(up) for p, up in ports.items() if _valid_port(p)}
        edge = {p for p in ports if not self.is_isl_port(dpid, p)}
        for gone in self._edge_ports[dpid] - edge:
            self._forget_port(dpid, gone)
        self._edge_ports[dpid] = edge
        for port in self.isl_ports(dpid):
            self._port_up[(dpid, port)] = ports.get(port, False)
        for port in edge:
            self._port_up[(dpid, port)] = ports[port]
        return self._after_port_change(before)

    def set_port_state(
        self, dpid: int, port: int, up: bool, deleted: bool = False
    ) -> list[LinkChange]:
        """One port changed (port-status). Either side of a link going down takes the link
        down; it is up again only when both sides are up. Returns the changed links."""
        self._check(dpid)
        if not _valid_port(port):
            return []
        before = self._liveness()
        if self.is_isl_port(dpid, port):
            self._port_up[(dpid, port)] = bool(up) and not deleted
        elif deleted:
            self._forget_port(dpid, port)
            self._edge_ports[dpid].discard(port)
            self._port_up.pop((dpid, port), None)
        else:
            self._edge_ports[dpid].add(port)
            self._port_up[(dpid, port)] = bool(up)
        return self._after_port_change(before)

    def port_up(self, dpid: int, port: int) -> bool | None:
        """Last reported state of a port, None if never reported."""
        return self._port_up.get((dpid, port))

    def _forget_port(self, dpid: int, port: int) -> None:
        for mac, loc in list(self._hosts.items()):
            if loc == (dpid, port):
                del self._hosts[mac]

    def is_link_up(self, link: Link) -> bool:
        return all(self._port_up.get(end, True) for end in link.ends)

    def live_links(self) -> list[Link]:
        return [l for l in self._links if self.is_link_up(l)]

    def _liveness(self) -> dict[Link, bool]:
        return {l: self.is_link_up(l) for l in self._links}

    def _after_port_change(self, before: dict[Link, bool]) -> list[LinkChange]:
        after = self._liveness()
        changes = [LinkChange(l, after[l]) for l in self._links if before[l] != after[l]]
        if changes:
            self._recompute_topology()
        return changes

    # ---- topology computations ----

    def _recompute_topology(self) -> None:
        """Sticky spanning forest (Kruskal seeded with the live part of the old tree) and a
        fresh next-hop cache."""
        live = self.live_links()
        parent = {d: d for d in self._name_of}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        tree: set[Link] = set()
        old = [l for l in live if l in self._tree]
        for link in old + [l for l in live if l not in self._tree]:
            ra, rb = find(link.a_dpid), find(link.b_dpid)
            if ra != rb:
                parent[ra] = rb
                tree.add(link)
        self._tree = frozenset(tree)
        self._next_hops = {}
        self._groups = None  # fast-failover groups of every switch, computed on demand

    def live_graph(self) -> nx.Graph:
        """Switches (dpids) and live links; of parallel live links the lowest-numbered one is
        the edge's ``link`` attribute (the one unicast uses)."""
        g = nx.Graph()
        g.add_nodes_from(self.dpids)
        for link in self.live_links():  # sorted, so the first parallel link wins
            if not g.has_edge(link.a_dpid, link.b_dpid):
                g.add_edge(link.a_dpid, link.b_dpid, link=link)
        return g

    def spanning_tree(self) -> frozenset[Link]:
        """Links of the current flood spanning forest (one tree per live component)."""
        return self._tree

    def tree_ports(self, dpid: int) -> list[int]:
        self._check(dpid)
        return sorted(l.port_on(dpid) for l in self._tree if dpid in (l.a_dpid, l.b_dpid))

    def _hops_towards(self, dst: int) -> dict[int, int]:
        """dpid -> out port towards switch ``dst``. One BFS tree rooted at dst, so the
        per-switch choices are consistent (no loop) even with equal-cost paths."""
        hops = self._next_hops.get(dst)
        if hops is None:
            g = self.live_graph()
            hops = {}
            for src, path in nx.single_source_shortest_path(g, dst).items():
                if src != dst:
                    nxt = path[-2]  # path runs dst ... nxt, src
                    hops[src] = g.edges[src, nxt]["link"].port_on(src)
            self._next_hops[dst] = hops
        return hops

    def path(self, dpid: int, mac: str) -> list[str] | None:
        """Switch names from ``dpid`` to the switch where ``mac`` is, None if unknown or
        unreachable."""
        self._check(dpid)
        loc = self._hosts.get(normalize_mac(mac))
        if loc is None:
            return None
        g = self.live_graph()
        try:
            return [self._name_of[d] for d in nx.shortest_path(g, dpid, loc[0])]
        except nx.NetworkXNoPath:
            return None

    def next_hop(self, dpid: int, mac: str) -> int | None:
        """Output port on ``dpid`` for frames to ``mac``: the host's edge port on its own
        switch, the next-hop ISL port elsewhere; None if unknown or unreachable."""
        self._check(dpid)
        loc = self._hosts.get(normalize_mac(mac))
        if loc is None:
            return None
        host_dpid, host_port = loc
        if dpid == host_dpid:
            return host_port
        return self._hops_towards(host_dpid).get(dpid)

    # ---- hosts ----

    def learn(self, dpid: int, port: int, mac: str | bytes) -> LearnOutcome:
        """A frame with source ``mac`` arrived on ``dpid``:``port``.

        Ignored on ISL ports (frames there come from other switches), on reserved ports,
        from unknown switches and for group/zero source MACs.
        """
        mac = normalize_mac(mac)
        if dpid not in self._name_of:
            return LearnOutcome("ignored", mac, dpid, port, reason="unknown switch")
        if not _valid_port(port):
            return LearnOutcome("ignored", mac, dpid, port, reason="reserved port")
        if self.is_isl_port(dpid, port):
            return LearnOutcome("ignored", mac, dpid, port, reason="inter-switch port")
        if not is_unicast_mac(mac):
            return LearnOutcome("ignored", mac, dpid, port, reason="group or zero MAC")
        # A frame arrived on it, so the port exists even if its port-status was missed.
        self._edge_ports[dpid].add(port)
        old = self._hosts.get(mac)
        if old == (dpid, port):
            return LearnOutcome("known", mac, dpid, port)
        self._hosts[mac] = (dpid, port)
        if old is None:
            return LearnOutcome("new", mac, dpid, port)
        return LearnOutcome("moved", mac, dpid, port, old=old)

    def forget_host(self, mac: str) -> bool:
        return self._hosts.pop(normalize_mac(mac), None) is not None

    def hosts(self) -> dict[str, tuple[int, int]]:
        """mac -> (dpid, edge port)."""
        return dict(self._hosts)

    def host_location(self, mac: str) -> tuple[int, int] | None:
        return self._hosts.get(normalize_mac(mac))

    # ---- partitions ----

    def add_partition(self, name: str, macs_a, macs_b) -> bool:
        """Keep the hosts ``macs_a`` and ``macs_b`` apart until ``remove_partition(name)``.

        Replaces a partition of the same name (returns True then). Raises FabricError for an
        empty or overlapping group, a bad MAC or a bad name. Takes effect at the next sync().
        """
        if not isinstance(name, str) or not name or len(name) > MAX_PARTITION_NAME:
            raise FabricError(f"partition name must be a string of 1..{MAX_PARTITION_NAME} characters, "
                              f"got {name!r}")
        groups = []
        for label, macs in (("macs_a", macs_a), ("macs_b", macs_b)):
            if isinstance(macs, (str, bytes)) or not isinstance(macs, (list, tuple, set, frozenset)):
                raise FabricError(f"partition {name}: {label} must be a list of MAC addresses")
            if not macs:
                raise FabricError(f"partition {name}: {label} is empty")
            group = set()
            for mac in macs:
                try:
                    mac = normalize_mac(mac)
                except (ValueError, TypeError) as exc:
                    raise FabricError(f"partition {name}: {label}: {exc}") from None
                if not is_unicast_mac(mac):
                    raise FabricError(f"partition {name}: {label}: {mac} is not a host (unicast) MAC")
                group.add(mac)
            groups.append(frozenset(group))
        both = groups[0] & groups[1]
        if both:
            raise FabricError(f"partition {name}: {', '.join(sorted(both))} on both sides")
        replaced = name in self._partitions
        self._partitions[name] = Partition(name, groups[0], groups[1])
        return replaced

    def remove_partition(self, name: str) -> bool:
        """Forget a partition; False if there was none of that name. Effective at the next sync()."""
        return self._partitions.pop(name, None) is not None

    def partitions(self) -> dict[str, Partition]:
        return dict(self._partitions)

    def _blocked(self) -> tuple[set[tuple[str, str]], dict[str, set[str]]]:
        """(src, dst) MAC pairs to drop, and src MAC -> every MAC it must not reach."""
        pairs: set[tuple[str, str]] = set()
        for part in self._partitions.values():
            for srcs, dsts in ((part.macs_a, part.macs_b), (part.macs_b, part.macs_a)):
                pairs.update((s, d) for s in srcs for d in dsts)
        by_src: dict[str, set[str]] = {}
        for src, dst in pairs:
            by_src.setdefault(src, set()).add(dst)
        return pairs, by_src

    def partition_flows(self, dpid: int) -> list[FlowSpec]:
        """The partition entries of ``dpid``: unicast drops (learning table) and flood entries
        without the other side's edge ports for group frames from one side (forwarding table)."""
        self._check(dpid)
        if not self._partitions:
            return []
        pairs, by_src = self._blocked()
        flows = [FlowSpec(dpid, TABLE_LEARN, PRIO_PARTITION, {"eth_src": s, "eth_dst": d}, ())
                 for s, d in sorted(pairs)]
        floods = [f for f in self.flood_flows(dpid) if f.actions]
        for src in sorted(by_src):
            ports = {loc[1] for mac in by_src[src]
                     if (loc := self._hosts.get(mac)) is not None and loc[0] == dpid}
            if not ports:
                continue
            for flood in floods:
                outs = [p for p in flood.out_ports if p not in ports]
                if len(outs) == len(flood.out_ports):
                    continue
                flows.append(FlowSpec(
                    dpid, TABLE_FORWARD, PRIO_PARTITION_FLOOD,
                    {"in_port": flood.match["in_port"], "eth_src": src, "eth_dst": GROUP_DST},
                    tuple(("output", p) for p in outs)))
        return flows

    # ---- flow computation ----

    def flows_for_switch(self, dpid: int) -> list[FlowSpec]:
        """Every entry ``dpid`` should have now (all three tables)."""
        self._check(dpid)
        flows = guard_flows(dpid, self._edges, self._guards, TABLE_LEARN, FlowSpec) + [
            FlowSpec(
                dpid, TABLE_LEARN, PRIO_MISS, {},
                (("controller", CONTROLLER_MAX_LEN), ("goto", TABLE_FORWARD)),
            )
        ]
        isl = self.isl_ports(dpid)
        for port in isl:
            flows.append(
                FlowSpec(dpid, TABLE_LEARN, PRIO_ISL_IN, {"in_port": port},
                         (("goto", TABLE_FORWARD),))
            )
        for mac, (hdpid, hport) in sorted(self._hosts.items()):
            if hdpid == dpid:
                flows.append(
                    FlowSpec(dpid, TABLE_LEARN, PRIO_HOST_SRC,
                             {"in_port": hport, "eth_src": mac}, (("goto", TABLE_FORWARD),))
                )
        flows.extend(self.flood_flows(dpid))
        for mac in sorted(self._hosts):
            flows.extend(self._towards_host(dpid, mac, isl))
        flows.extend(self.partition_flows(dpid))
        return flows

    def _towards_host(self, dpid: int, mac: str, isl: list[int]) -> list[FlowSpec]:
        """Forwarding entries for frames to ``mac``: its edge port on its own switch; elsewhere
        the next hop, or with fast failover the groups towards its switch (one entry for frames
        from hosts, one per inter-switch in_port: see controllers/fastfailover.py)."""
        host_dpid, host_port = self._hosts[mac]
        if dpid == host_dpid or not (self.fast_failover and isl):
            port = self.next_hop(dpid, mac)
            if port is None:
                return []
            return [FlowSpec(dpid, TABLE_FORWARD, PRIO_HOST_DST, {"eth_dst": mac}, (("output", port),))]
        index = self.dpids.index(host_dpid) + 1
        flows = [FlowSpec(dpid, TABLE_FORWARD, PRIO_HOST_DST, {"eth_dst": mac},
                          (("group", group_id(index, FROM_HOST)),))]
        flows += [FlowSpec(dpid, TABLE_FORWARD, PRIO_HOST_DST_FROM_ISL, {"in_port": port, "eth_dst": mac},
                           (("group", group_id(index, port)),)) for port in isl]
        return flows

    def groups_for_switch(self, dpid: int) -> list[GroupSpec]:
        """The fast-failover groups ``dpid`` should have now (none without fast failover)."""
        self._check(dpid)
        if not self.fast_failover:
            return []
        if self._groups is None:
            isl, peer = {}, {}
            for d in self.dpids:
                isl[d] = {}
                for port in self.isl_ports(d):
                    link = self._link_at[(d, port)]
                    isl[d][port] = (link.other(d), self.is_link_up(link))
                    peer[(d, port)] = (link.other(d), link.port_on(link.other(d)))
            primaries = {(d, dst): self._hops_towards(dst).get(d) for d in self.dpids for dst in self.dpids}
            self._groups, self.pruned_buckets = failover_groups(self.dpids, isl, peer, self.live_graph(), primaries)
        return list(self._groups[dpid])

    def flood_flows(self, dpid: int) -> list[FlowSpec]:
        """Per in_port flood entries of table 1 (explicit port lists, never OFPP_IN_PORT)."""
        self._check(dpid)
        edge = set(self._edge_ports[dpid])
        tree = set(self.tree_ports(dpid))
        out_set = edge | tree
        flows = []
        for in_port in sorted(edge | set(self.isl_ports(dpid))):
            if in_port in out_set:
                actions = tuple(("output", p) for p in sorted(out_set - {in_port}))
            else:
                actions = ()  # non-tree (or dead) ISL: drop, this is what breaks loops
            flows.append(
                FlowSpec(dpid, TABLE_FORWARD, PRIO_FLOOD, {"in_port": in_port}, actions)
            )
        return flows

    def flows_for_host(self, mac: str) -> list[FlowSpec]:
        """Entries about ``mac`` on all switches: its table-0 learn entry and the table-1
        eth_dst entries."""
        mac = normalize_mac(mac)
        return [
            f
            for dpid in self.dpids
            for f in self.flows_for_switch(dpid)
            if f.match.get("eth_src") == mac or f.match.get("eth_dst") == mac
        ]

    def sync(self) -> list[FlowDelta]:
        """Flow changes for every connected switch since the last sync(), and record them as
        installed. Send each delta's ``add`` (OFPFC_ADD) before its ``delete``."""
        deltas = []
        for dpid in sorted(self._connected):
            desired = {f.key: f for f in self.flows_for_switch(dpid)}
            installed = self._installed.get(dpid, {})
            add = [f for k, f in desired.items() if installed.get(k) != f]
            delete = [f for k, f in installed.items() if k not in desired]
            # The group set of a switch is fixed by the fabric (only buckets change), so groups
            # are only ever added or modified, never deleted (a wipe removes them all).
            groups = {g.key: g for g in self.groups_for_switch(dpid)}
            installed_groups = self._installed_groups.get(dpid, {})
            changed = [g for k, g in groups.items() if installed_groups.get(k) != g]
            if add or delete or changed:
                deltas.append(FlowDelta(dpid, add, delete, changed))
            self._installed[dpid] = desired
            self._installed_groups[dpid] = groups
        return deltas

    def installed_flows(self, dpid: int) -> list[FlowSpec]:
        """What the last sync() pushed to ``dpid``."""
        return list(self._installed.get(dpid, {}).values())



def _edges_from(raw: object, switches: Mapping[str, int], isl_ports: Mapping[tuple[str, int], int]) -> list[Edge]:
    """The fabric JSON's "edges": [{switch, port, host, mac, addresses: [...]}, ...]."""
    if not isinstance(raw, list):
        raise FabricError("fabric: 'edges' must be a list")
    edges, seen = [], set()
    for i, spec in enumerate(raw):
        where = f"fabric: edges[{i}]"
        if not isinstance(spec, Mapping) or not {"switch", "port", "host", "mac", "addresses"} <= set(spec):
            raise FabricError(f"{where} must be an object with switch, port, host, mac, addresses")
        switch, port = spec["switch"], spec["port"]
        if switch not in switches:
            raise FabricError(f"{where} names unknown switch {switch!r}")
        if not _valid_port(port) or (switch, port) in isl_ports or (switch, port) in seen:
            raise FabricError(f"{where}: port {switch}:{port!r} is not a free edge port")
        seen.add((switch, port))
        mac = spec["mac"]
        if not isinstance(mac, str) or not _MAC_RE.match(mac.lower()):
            raise FabricError(f"{where}.mac must be a MAC address, got {mac!r}")
        addresses = spec["addresses"]
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise FabricError(f"{where}.addresses must be a non-empty list of IPv4 addresses")
        edges.append(Edge(switches[switch], port, str(spec["host"]), mac.lower(), tuple(addresses)))
    return edges


# --- the control channel ------------------------------------------------------------------------

CONTROL_OPS = ("partition", "heal", "forget", "status")


def control(fabric: Fabric, request: object) -> ControlOutcome:
    """Decide one control-channel request (a parsed JSON object) against ``fabric``.

        {"op": "partition", "name": N, "macs_a": [...], "macs_b": [...]}  drop A<->B (replaces N)
        {"op": "heal", "name": N}     remove partition N (ok, "removed": false if there is none)
        {"op": "forget", "mac": M}    forget host M (like clearing a switch's MAC table): its
                                      entries go, and its next packet is learned afresh
        {"op": "status"}              partitions, connected switches, learned hosts

    Applies the change to ``fabric`` (the caller then pushes ``fabric.sync()``); raises
    FabricError for a malformed request.
    """
    if not isinstance(request, Mapping):
        raise FabricError("control: a request is a JSON object with an 'op'")
    op = request.get("op")
    if op not in CONTROL_OPS:
        raise FabricError(f"control: unknown op {op!r} (one of {', '.join(CONTROL_OPS)})")
    if op == "status":
        return ControlOutcome({
            "ok": True, "op": op,
            "partitions": {n: p.as_dict() for n, p in sorted(fabric.partitions().items())},
            "connected": [fabric.name_of(d) for d in fabric.connected],
            "hosts": {mac: [fabric.name_of(d), port] for mac, (d, port) in sorted(fabric.hosts().items())},
            "live_links": [str(l) for l in fabric.live_links()],
        })
    if op == "forget":
        if set(request) - {"op", "mac"}:
            raise FabricError(f"control: forget: unknown field(s) {', '.join(sorted(set(request) - {'op', 'mac'}))}")
        try:
            mac = normalize_mac(request.get("mac", ""))
        except (ValueError, TypeError) as exc:
            raise FabricError(f"control: forget: {exc}") from None
        if not fabric.forget_host(mac):
            return ControlOutcome({"ok": True, "op": op, "mac": mac, "forgotten": False})
        return ControlOutcome({"ok": True, "op": op, "mac": mac, "forgotten": True}, "host_forgotten", {"mac": mac})
    unknown = set(request) - {"op", "name", "macs_a", "macs_b"}
    if unknown:
        raise FabricError(f"control: {op}: unknown field(s) {', '.join(sorted(unknown))}")
    name = request.get("name")
    if op == "partition":
        replaced = fabric.add_partition(name, request.get("macs_a"), request.get("macs_b"))
        part = fabric.partitions()[name]
        count = sum(1 for d in fabric.connected for f in fabric.partition_flows(d))
        fields = {**part.as_dict(), "replaced": replaced}
        return ControlOutcome({"ok": True, "op": op, **fields, "partition_flows_total": count},
                              "partition_installed", fields)
    if not isinstance(name, str) or not name:
        raise FabricError("control: heal: 'name' must be a non-empty string")
    removed = fabric.remove_partition(name)
    reply = {"ok": True, "op": op, "name": name, "removed": removed}
    if not removed:
        return ControlOutcome(reply)
    return ControlOutcome(reply, "partition_removed", {"name": name})
