"""Static SPOF analysis: every component × every service, predicted from the model alone.

    analyze(topology) → Analysis
      judgements   one per component × service: predicted SPOF?, why, what covers it otherwise
      cut_sets     pairs that take a service down although neither alone does (size-2 minimal cuts)
      graph        articulation points and bridges of the fabric (hosts + switches)

A component is a SPOF for a service when the design's structure function (spof/model.py) says
the service is down with that component failed and nothing else. What covers a component that is
not a SPOF is read off how the working service changed: another VIP MASTER (VRRP), fewer healthy
servers (HAProxy's checks), a path around it (the controller reroutes), nothing at all (it is not
on the service's path). Pairs: every pair of non-SPOF components when there are at most
ALL_PAIRS_UP_TO of them; beyond that only among components that matter to the service (their
failure changes what it uses, or they lie on a path it uses), which keeps big designs in seconds
but can miss a pair whose members are both idle alone (a transit switch off every intact path).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field

import networkx as nx

from spof.model import SERVICES, Design


@dataclass(frozen=True)
class Judgement:
    component: str  # a fault address (a switch is node:<switch>; the VIP is "vip")
    kind: str
    service: str
    predicted: bool
    reason: str
    mitigation: str


@dataclass(frozen=True)
class CutSet:
    service: str
    components: tuple[str, str]
    reason: str


@dataclass(frozen=True)
class ClientAccess:
    """A client's own only way in: not the site's SPOF, and not hidden either."""
    component: str  # node:<switch> or link:<client>-<switch>
    clients: tuple[str, ...]
    reason: str


@dataclass
class Analysis:
    topology: str
    services: list[str]
    judgements: list[Judgement]
    cut_sets: list[CutSet]
    graph: dict
    facts: dict
    seconds: float = 0.0
    pairs_tried: int = 0
    notes: list[str] = field(default_factory=list)
    client_access: list[ClientAccess] = field(default_factory=list)

    def spofs(self, service: str | None = None) -> list[Judgement]:
        return [j for j in self.judgements if j.predicted and (service is None or j.service == service)]

    def as_json(self) -> dict:
        return {"topology": self.topology, "services": self.services, "seconds": self.seconds,
                "pairs_tried": self.pairs_tried, "graph": self.graph, "facts": self.facts, "notes": self.notes,
                "judgements": [asdict(j) for j in self.judgements],
                "client_access": [{"component": c.component, "clients": list(c.clients), "reason": c.reason}
                                  for c in self.client_access],
                "cut_sets": [{"service": c.service, "components": list(c.components), "reason": c.reason}
                             for c in self.cut_sets]}


def analyze(topology, pairs: bool = True) -> Analysis:
    began = time.monotonic()
    design = Design(topology)
    intact = design.evaluate(())
    services = [s for s in SERVICES if s in intact]
    graph = fabric_graph(design)
    articulation = set(nx.articulation_points(graph))
    bridges = {frozenset(edge) for edge in nx.bridges(graph)}
    mechanisms = Mechanisms(design)
    judgements, relevant, candidates = [], {s: [] for s in services}, {s: [] for s in services}
    pools: dict[str, dict[str, frozenset]] = {s: {} for s in services}
    for component in design.components:
        if component.kind == "vip":
            judgements += [mechanisms.vip(s) for s in services]
            continue
        outcome = design.evaluate({component.address})
        for service in services:
            result, before = outcome[service], intact[service]
            if not result.up:
                reason = result.why + graph_note(component, graph, articulation, bridges)
                judgements.append(Judgement(component.address, component.kind, service, True, reason, "none"))
                continue
            cover = mechanisms.cover(component, service, before, result)
            judgements.append(Judgement(component.address, component.kind, service, False, "", cover))
            candidates[service].append(component.address)
            if cover != NOT_USED:
                relevant[service].append(component.address)
            loss = pool_loss(service, component, before, result, mechanisms)
            if loss is not None:
                pools[service][component.address] = loss
    cut_sets, tried = [], 0
    evaluated: dict[frozenset, dict] = {}  # one evaluation answers every service: web, read and write share pairs
    if pairs:
        for service in services:
            pool = candidates[service] if len(candidates[service]) <= ALL_PAIRS_UP_TO else relevant[service]
            for a, b in itertools.combinations(pool, 2):
                if a in pools[service] and b in pools[service] and \
                        cannot_cut(service, pools[service][a], pools[service][b], intact[service]):
                    continue  # two losses from one redundant pool that leave some of it
                tried += 1
                key = frozenset((a, b))
                if key not in evaluated:
                    evaluated[key] = design.evaluate(key)
                result = evaluated[key][service]
                if not result.up:
                    cut_sets.append(CutSet(service, (a, b), result.why))
    notes = [f"VIP holder before any fault: {design.holder} (highest VRRP priority; every instance starts "
             "BACKUP)" if design.holder else "no VRRP instance"]
    if topology.services.enabled:
        notes.append(f"database tier ({topology.services.mariadb.mode}): {', '.join(topology.database_nodes())}")
    return Analysis(topology.name, services, judgements, cut_sets,
                    {"articulation_points": sorted(articulation),
                     "bridges": sorted("-".join(sorted(b)) for b in bridges)},
                    mechanisms.facts(), round(time.monotonic() - began, 3), tried, notes, client_access(design))


def client_access(design: Design) -> list[ClientAccess]:
    """Every client's only access switch and link (a client with one leg on the VIP network): the
    per-client services never hold them against the design (spof/model.py), so they are listed
    here, apart from the site's SPOFs."""
    found: dict[str, list[str]] = {}
    for client in design.clients:
        legs = [i for i in design.plan.host_interfaces(client) if i.network == design.topology.vip.network]
        if len(legs) == 1:
            found.setdefault(f"node:{legs[0].switch}", []).append(client)
            found.setdefault(f"link:{client}-{legs[0].switch}", []).append(client)
    return [ClientAccess(component, tuple(clients),
                         f"the only {'switch' if component.startswith('node:') else 'link'} "
                         f"{', '.join(clients)} {'reach' if len(clients) > 1 else 'reaches'} the VIP through")
            for component, clients in found.items()]


def pool_loss(service: str, component, before, after, mechanisms) -> frozenset | None:
    """What a component's failure takes from a redundant pool, when that is ALL it does: servers
    (web, read, write) or a host's exporters (monitoring). None when it does anything else (moves
    the VIP, lies on a path the service uses, touches the primary's path): such pairs are tried."""
    old, new = before.used, after.used
    if mechanisms.on_paths(component, old.get("paths", set()) | old.get("primary_paths", set())
                           | old.get("quorum_paths", set())):
        return None
    if service in ("web", "read", "write"):
        if (old.get("masters") != new.get("masters") or old.get("paths") != new.get("paths")
                or old.get("primary_paths") != new.get("primary_paths") or old.get("writers") != new.get("writers")
                or old.get("db_served") != new.get("db_served")):
            return None  # ...or writes now rely on a promotion
        members = members_lost(old.get("quorums", set()), new.get("quorums", set()))
        if members is None:
            return None
        servers = set(old.get("servers", ())) - set(new.get("servers", ()))
        return frozenset(servers | {("member", m) for m in members})
    if service == "monitoring":
        if old.get("paths") != new.get("paths"):
            return None
        return frozenset(set(old.get("replicas", ())) - set(new.get("replicas", ())))
    return None


def members_lost(old: set, new: set) -> frozenset | None:
    """Galera: the members one failure took out of the majority component, when that is all it
    did (each node still in a majority has its old component minus the same members; a node cut
    off into a minority counts as lost); else None."""
    before, after = dict(old), dict(new)
    majority = {s: t for s, t in after.items() if s in before and 2 * len(t) > len(before[s])}
    if any(s not in before for s in after):
        return None
    gone = frozenset().union(*(set(before[s]) - set(t) for s, t in majority.items()))
    if any(set(t) != set(before[s]) - gone for s, t in majority.items()):
        return None
    return gone


def cannot_cut(service: str, loss_a: frozenset, loss_b: frozenset, intact) -> bool:
    """Two pool-only losses cannot take the service down when, for client services, together they
    leave a server and (Galera) a majority of the members, and for monitoring, they leave a
    replica that raises and delivers alerts."""
    if service in ("web", "read", "write"):
        lost = loss_a | loss_b
        members = max((len(together) for _, together in intact.used.get("quorums", ())), default=0)
        quorum_left = 2 * (members - sum(1 for x in lost if isinstance(x, tuple))) > members
        servers_left = not {x for x in lost if isinstance(x, str)} >= set(intact.used.get("servers", ()))
        return servers_left and (quorum_left or not members)
    if service == "monitoring":
        return bool(set(intact.used.get("replicas", ())) - loss_a - loss_b)
    return False


def fabric_graph(design: Design) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(design.topology.switches)
    graph.add_nodes_from(design.topology.hosts)
    graph.add_edges_from((link.a, link.b) for link in design.plan.switch_links)
    graph.add_edges_from((i.host, i.switch) for i in design.plan.interfaces)
    return graph


def graph_note(component, graph: nx.Graph, articulation: set, bridges: set) -> str:
    """" (articulation point: without it, client1 is cut off from lb1, lb2, ...)" or ''."""
    hosts = set(graph) - set(component.where) - {n for n in graph if n.startswith("s") and n[1:].isdigit()}
    if component.kind in ("host", "switch") and component.where[0] in articulation:
        cut = graph.copy()
        cut.remove_node(component.where[0])
    elif component.kind in ("isl", "host_link") and frozenset(component.where) in bridges:
        cut = graph.copy()
        cut.remove_edge(*component.where)
    else:
        return ""
    parts = sorted(([n for n in part if n in hosts] for part in nx.connected_components(cut)), key=len)
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return ""
    what = "an articulation point" if component.kind in ("host", "switch") else "a bridge"
    return f" ({what} of the fabric: without it {', '.join(sorted(parts[0]))} is cut off from " \
           f"{', '.join(sorted(parts[-1]))})"


NOT_USED = "not on this service's path"
ALL_PAIRS_UP_TO = 90  # components per service; 90 → 4005 pairs, about a second


class Mechanisms:
    """What covers a component that is not a SPOF, in words taken from the rendered configuration."""

    def __init__(self, design: Design):
        self.design = design
        self.f = design.facts

    def facts(self) -> dict:
        if self.f is None:
            return {}
        return {"vrrp": {lb: {"interface": v.interface, "advert_interface": v.advert_interface,
                              "unicast_peers": list(v.unicast_peers), "priority": v.priority,
                              "advert_int_s": v.advert_int, "preempt": v.preempt, "checks": list(v.tracks)}
                         for lb, v in self.f.vrrp.items()},
                "health_checks": {lb: {"check": b.check, "inter_ms": b.inter_ms, "fall": b.fall,
                                       "servers": [s for s, _ in b.servers],
                                       "backup": [s for s, backup in b.servers if backup]}
                                  for lb, b in self.f.backends.items()},
                "writes_to": self.f.write_primary, "promotes_replicas": self.f.promoter,
                "replication": self.f.replication,
                "health_needs": list(self.f.health_needs) + ["mariadb (its own node, or its route's)"],
                "db_routes": {s: list(r) for s, r in self.f.db_route.items() if r != (s,)},
                "scraped": {m: {h: list(j) for h, j in t.items()} for m, t in self.f.scrape.items()}}

    def vrrp(self, new_master: str) -> str:
        v = self.f.vrrp[new_master]
        return (f"VRRP: {new_master} takes the VIP when the holder's adverts stop (every {v.advert_int:g} s) "
                f"or its checks fail ({'; '.join(v.tracks)})")

    def checks(self, lost: set) -> str:
        b = next(iter(self.f.backends.values()))
        backup = [s for s, is_backup in b.servers if is_backup]
        return (f"HAProxy health checks ({b.check} every {b.inter_ms} ms, fall {b.fall}) take "
                f"{', '.join(sorted(lost))} out of the rotation" + (f"; {', '.join(backup)} is the backup" if backup else ""))

    def vip(self, service: str) -> Judgement:
        lbs = sorted(self.f.vrrp) if self.f else []
        if service not in ("web", "read", "write"):
            return Judgement("vip", "vip", service, False, "", NOT_USED)
        if len(lbs) < 2:
            return Judgement("vip", "vip", service, True,
                             f"only {lbs[0] if lbs else 'one balancer'} can hold the VIP: it lives and dies with it", "none")
        guarded = self.design.topology.controller.edge_guards
        if guarded:
            exposure = ("the fabric's edge guards let no host send from another's address and only the balancers' "
                        "front ports claim the VIP, so forged adverts and gratuitous ARPs are dropped at the "
                        "attacker's port (attack:vrrp_spoofed_lb, attack:vrrp_service_leg, attack:garp); VRRPv3 "
                        "itself has no authentication")
        elif any(v.unicast_peers for v in self.f.vrrp.values()):
            exposure = ("adverts travel unicast over the service network and the balancers' firewalls drop VRRP "
                        "from the internet side; VRRPv3 has no authentication and the fabric has no edge guards, so "
                        "a host that reaches a balancer's service leg can forge a peer's advert "
                        "(attack:vrrp_service_leg), and a gratuitous ARP can poison clients' caches (attack:garp)")
        else:
            exposure = ("VRRPv3 has no authentication, so a forged advert or gratuitous ARP from the internet side "
                        "can take it (attack:vrrp_spoofed_lb, attack:garp)")
        return Judgement("vip", "vip", service, False, "",
                         f"one address that VRRP moves between {', '.join(lbs)}; {exposure}: not a component "
                         "failure, an attack")

    def cover(self, component, service: str, before, after) -> str:
        if component.kind == "controller":
            if self.design.topology.controller.instances > 1:
                return ("a standby controller claims MASTER (OpenFlow roles, a newer generation id) when the "
                        "MASTER's heartbeat stops; switches keep forwarding meanwhile")
            return ("switches are fail-secure: installed flows keep forwarding without the controller"
                    if service != "recovery" else NOT_USED)
        if service in ("web", "read", "write"):
            old, new = before.used, after.used
            if old.get("masters") != new.get("masters"):
                if new.get("masters"):
                    return self.vrrp(new["masters"][0])
                return (f"none needed: killed, keepalived leaves the VIP on {self.design.holder}'s interface and no "
                        f"other balancer claims it, so {self.design.holder} keeps serving")
            lost = set(old.get("servers", ())) - set(new.get("servers", ()))
            if lost:
                return self.checks(lost)
            moved = sorted(set(old.get("db_served", ())) - set(new.get("db_served", ())))
            if moved:
                return (f"the apps without a database node of their own ({', '.join(s for s, _ in moved[:3])}"
                        f"{', ...' if len(moved) > 3 else ''}) use the next node of their route")
            if self.on_paths(component, old.get("paths", set()) | old.get("primary_paths", set())):
                return self.reroute()
            return NOT_USED
        if service == "monitoring":
            old, new = before.used, after.used
            if set(old.get("replicas", ())) - set(new.get("replicas", ())):
                left = sorted({f"{m} → {a}" if a else m for m, a in new.get("replicas", ())})
                return f"the other monitoring replica raises and delivers alerts ({', '.join(left)})"
            if self.on_paths(component, old.get("paths", set())):
                return self.reroute()
            if component.kind in ("host", "host_link", "daemon") and component.where[0] in self.f.scrape.get(
                    next(iter(self.f.scrape), ""), {}):
                return "seen, not missed: its targets' `up` falls to 0 and InstanceDown names them"
            return NOT_USED
        return NOT_USED

    def reroute(self) -> str:
        if self.design.topology.controller.fast_failover:
            return "fast-failover groups in the switches reroute around it; the controller then recomputes"
        return "the controller reroutes around it"

    def on_paths(self, component, pairs: set) -> bool:
        """Does a switch or inter-switch link lie on an intact path the service uses?"""
        if component.kind not in ("switch", "isl"):
            return False
        for a, b in pairs:
            if a == b:
                hops_nodes = {a}
                hops = ()
            else:
                hops = self.design.unicast_path(a, b) + self.design.unicast_path(b, a)
                hops_nodes = {n for h in hops for n in h}
            if component.kind == "switch" and component.where[0] in hops_nodes:
                return True
            if component.kind == "isl" and frozenset(component.where) in hops:
                return True
        return False
