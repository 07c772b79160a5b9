"""The design as a structure function: given the components that failed, which services still work?

    Design(topology).evaluate({"node:lb1", "link:s1-s2"}) → {"web": Outcome(up, why, used), ...}

The graph part (the fabric: hosts, switches, links) and the service part (what each daemon needs,
what each redundancy mechanism detects, from spof/facts.py) are evaluated together:

    client ──(internet L2)──▶ the VIP's MASTER ──(service L2)──▶ a server whose GET /health passes
      web     the client reaches a balancer that is MASTER; that balancer reaches a healthy server
      read    the same path (GET /read reads the database /health already needs: the local node,
              or on a server without one the first node of its route that can serve)
      write   ...and that server's app reaches the primary its app.json names (no promotion exists);
              Galera: each app writes to its own node (or its route's), which /health already
              requires in a majority component (the live members it reaches are more than half of all)
      monitoring  some replica raises alerts and delivers them: its Prometheus runs (rules
                  evaluated) and reaches a running Alertmanager it sends to, whose receiver runs.
                  A host it cannot scrape is not missed: its `up` is 0 and InstanceDown names it
                  (the failure is seen) unless the host is still part of the site (a balancer or
                  server reaches it): then the replica is blind to it. A replica cut off from
                  every host it scrapes alerts on everything (false alarms) and does not count
      recovery    a controller is in charge (it alone recomputes paths after a further cut);
                  with two instances a stopped MASTER is replaced by the standby

VRRP, as configured: a balancer is a *candidate* while its host, keepalived, its front interface
(carrier) and every track script (its own HAProxy's pid) are alive. It is MASTER unless it hears
the adverts of a candidate ahead of it: the current holder first (nopreempt keeps it), then by
priority. Nothing else moves the VIP: a MASTER whose HAProxy reaches no server keeps it.

Forwarding: with a controller in charge, any live path serves (it reroutes within ms). With the
only controller stopped, switches keep the flows computed on the intact fabric: unicast follows
the intact shortest path (both directions), broadcast and VRRP multicast the intact spanning
tree; with fast-failover groups, unicast also survives one inter-switch cut on any live path
(the groups hold a backup for every destination; two cuts are not promised).

Per-client services (web, read, write) do not count a client's own access against that client:
its host, its access link, its access switch (spof/analysis.py lists those apart, as "client
access"); the service is down if it is down for any other client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import networkx as nx

from controllers.fabric import Fabric
from spof.components import components
from spof.facts import site_facts
from topo.plan import plan_network

SERVICES = ("web", "read", "write", "monitoring", "recovery")


@dataclass(frozen=True)
class Outcome:
    up: bool
    why: str = ""  # why it is down (empty when up)
    # What the working service relied on: {"masters": ..., "servers": ..., "paths": {(a, b), ...}}
    used: dict = field(default_factory=dict, compare=False, hash=False)
    # Up, but not for every request: why (a split brain in which some VIP MASTER serves nothing).
    partial: str = field(default="", compare=False)


class Design:
    """The topology, its address plan, its rendered facts and its components, ready to evaluate."""

    def __init__(self, topology):
        self.topology = topology
        self.plan = plan_network(topology)
        self.facts = site_facts(topology, self.plan) if topology.services.enabled else None
        self.components = components(topology, self.plan)
        self.by_address = {c.address: c for c in self.components}
        self.clients = [c for c in topology.hosts_with_role("client")
                        if any(i.network == topology.vip.network for i in self.plan.host_interfaces(c))]
        fabric = Fabric.from_dict(self.plan.fabric())
        self._graph = fabric.live_graph()  # dpids; what the controller routes unicast on
        self._tree = {frozenset((fabric.name_of(l.a_dpid), fabric.name_of(l.b_dpid))) for l in fabric.spanning_tree()}
        self._name = {fabric.dpid_of(s): s for s in topology.switches}
        self.holder = self.facts.initial_holder() if self.facts else None
        self.interfaces = {(i.host, i.network): i for i in self.plan.interfaces}
        self.interface_named = {i.name: i for i in self.plan.interfaces}
        self.home_network = {h: self.plan.host_interfaces(h)[0].network for h in topology.hosts
                             if self.plan.host_interfaces(h)}
        # Exporters listen on each host's address in the servers' network (Site.backend_ip).
        servers = topology.hosts_with_role("server")
        self.backend_network = self.plan.host_interfaces(servers[0])[0].network if servers else None
        self.site_hosts = topology.hosts_with_role("lb") + servers  # what State.in_site asks

    # -- the intact fabric (what a stopped controller leaves installed) ---------------------------
    @lru_cache(maxsize=None)
    def unicast_path(self, src: str, dst: str) -> tuple[frozenset, ...]:
        """Switch-to-switch hops frames from switch src to switch dst take on the intact fabric
        (the controller's BFS tree rooted at dst), as frozenset({a, b}) per hop."""
        dpids = {s: d for d, s in self._name.items()}
        path = nx.single_source_shortest_path(self._graph, dpids[dst]).get(dpids[src])
        if path is None:
            return (frozenset(("unreachable",)),)
        names = [self._name[d] for d in reversed(path)]
        return tuple(frozenset(pair) for pair in zip(names, names[1:]))

    @lru_cache(maxsize=None)
    def tree_path(self, src: str, dst: str) -> tuple[frozenset, ...]:
        """Hops between two switches on the intact flood spanning tree (broadcast, VRRP adverts)."""
        tree = nx.Graph()
        tree.add_nodes_from(self.topology.switches)
        tree.add_edges_from(tuple(pair) for pair in self._tree)
        try:
            names = nx.shortest_path(tree, src, dst)
        except nx.NetworkXNoPath:
            return (frozenset(("unreachable",)),)
        return tuple(frozenset(pair) for pair in zip(names, names[1:]))

    @lru_cache(maxsize=None)
    def switch_components(self, down: frozenset, dead_links: frozenset) -> dict[str, int]:
        """{switch: its component's number} on the fabric left with the `down` switches and the
        `dead_links` ({a, b} pairs) gone. Kept: most failed sets leave the fabric as it was.
        Read only (shared by every State that asks)."""
        g = nx.Graph()
        g.add_nodes_from(s for s in self.topology.switches if s not in down)
        for link in self.plan.switch_links:
            if link.a not in down and link.b not in down and frozenset((link.a, link.b)) not in dead_links:
                g.add_edge(link.a, link.b)
        return {s: n for n, part in enumerate(nx.connected_components(g)) for s in part}

    def evaluate(self, failed, holder: str | None = None) -> dict[str, Outcome]:
        """Services with `failed` components down; `holder`: the balancer holding the VIP before the
        failure (default: the one VRRP elects first)."""
        return State(self, frozenset(failed), holder or self.holder).services()


class State:
    """One set of failed components, evaluated.

    The analysis evaluates thousands of sets (every component, then pairs), and one evaluation asks
    the same questions many times over: every balancer checks every server, every client and VRRP
    ask again, each monitor scrapes every host. So a State answers each question once and keeps the
    answer (where a host attaches, a server's own /health, a host's part in the site): the
    failed set never changes, nor do the answers."""

    def __init__(self, design: Design, failed: frozenset[str], holder: str | None = None):
        self.d = design
        self.failed = failed
        self.holder = holder or design.holder
        self._down = design.topology.layout.failed_nodes(failed)  # hosts and switches, a machine's all
        # `controller`: the MASTER stops; a standby instance takes its place.
        self.controller = "controller" not in failed or design.topology.controller.instances > 1
        self.dead_links = {self._split_link(a) for a in failed if a.startswith("link:")}
        switches = set(design.topology.switches)
        self._components = design.switch_components(frozenset(self._down & switches),
                                                    frozenset(pair for pair in self.dead_links if pair <= switches))
        isl_cuts = sum(1 for pair in self.dead_links if pair <= switches)
        # Unicast finds any live path: a controller reroutes, or fast failover covers one cut.
        self.rerouting = self.controller or (design.topology.controller.fast_failover and isl_cuts <= 1)
        self._healthy: dict[str, tuple[list[str], list[str]]] = {}
        # Galera: (server, the members its node was together with) for every quorum looked at.
        self.quorums: set[tuple[str, tuple[str, ...]]] = set()
        self._together: dict[str, tuple[str, ...]] = {}
        self.writers: set[tuple[str, bool]] = set()  # (primary written to, promoted by the manager?)
        self.quorum_paths: set[tuple[str, str]] = set()  # switch pairs Galera traffic uses
        # (server, node): a server without a database node of its own, and the node it uses.
        self.db_served: set[tuple[str, str]] = set()
        # Answers kept (see the class's docstring).
        self._attached: dict[str, dict[str, str]] = {}  # network → {host: switch} of its live interfaces
        self._joined: dict[tuple[str, str, bool], bool] = {}  # switches_connect's answers
        self._server_fails: dict[str, tuple[str, frozenset]] = {}
        self._in_site: dict[str, bool] = {}

    def _split_link(self, address: str) -> frozenset:
        pair = self.d.topology.split_pair(address.removeprefix("link:"))
        if pair is None:
            raise ValueError(f"not a link address: {address}")
        return frozenset(pair)

    # -- parts ---------------------------------------------------------------------------------------
    def host_up(self, host: str) -> bool:
        return host not in self._down  # node:<host> failed

    def switch_up(self, switch: str) -> bool:
        return switch not in self._down  # node:<switch> failed

    def daemon_up(self, daemon: str, host: str) -> bool:
        return self.host_up(host) and f"daemon:{daemon}@{host}" not in self.failed

    def intf(self, host: str, network: str):
        return self.d.interfaces.get((host, network))

    def intf_up(self, intf) -> bool:
        return (intf is not None and self.host_up(intf.host) and self.switch_up(intf.switch)
                and frozenset((intf.host, intf.switch)) not in self.dead_links)

    def attached(self, network: str) -> dict[str, str]:
        """{host: the switch it is attached to} for every host whose interface on `network` is up:
        worked out once per network, as reach asks about the same hosts again and again."""
        if network not in self._attached:
            self._attached[network] = {host: i.switch for (host, on), i in self.d.interfaces.items()
                                       if on == network and self.intf_up(i)}
        return self._attached[network]

    def _hops_alive(self, hops) -> bool:
        return all(len(h) == 2 and h not in self.dead_links and all(self.switch_up(s) for s in h) for h in hops)

    def switches_connect(self, a: str, b: str, broadcast: bool = False) -> bool:
        key = (a, b, broadcast)
        if key not in self._joined:
            self._joined[key] = self._switches_connect(a, b, broadcast)
        return self._joined[key]

    def _switches_connect(self, a: str, b: str, broadcast: bool) -> bool:
        if not (self.switch_up(a) and self.switch_up(b)):
            return False
        if a == b:
            return True
        if self.controller or (self.rerouting and not broadcast):
            return self._components.get(a) == self._components.get(b)
        if broadcast:
            return self._hops_alive(self.d.tree_path(a, b))
        return self._hops_alive(self.d.unicast_path(a, b)) and self._hops_alive(self.d.unicast_path(b, a))

    def reach(self, a: str, b: str, network: str, broadcast: bool = False, used: set | None = None) -> bool:
        """Host a reaches host b on `network` (both attached there, links up, switches joined)."""
        if a == b:
            return self.host_up(a)
        attached = self.attached(network)
        sa, sb = attached.get(a), attached.get(b)
        if sa is None or sb is None:
            return False
        if not self.switches_connect(sa, sb, broadcast):
            return False
        if used is not None:
            used.add((sa, sb))
        return True

    # -- VRRP ----------------------------------------------------------------------------------------
    def not_candidate(self, lb: str) -> str | None:
        """Why `lb` cannot be VRRP MASTER now (None: it can)."""
        vrrp = self.d.facts.vrrp[lb]
        if not self.host_up(lb):
            return f"{lb} is down"
        if not self.daemon_up("keepalived", lb):
            return f"keepalived on {lb} is dead"
        for name in vrrp.track_interfaces or (vrrp.interface,):
            if not self.intf_up(self.d.interface_named.get(name)):
                leg = "front" if name == vrrp.interface else "service"
                return f"{lb}'s {leg} interface {name} lost carrier (keepalived: FAULT)"
        if not self.daemon_up("haproxy", lb):
            return f"{lb}'s track script fails: its HAProxy is dead (keepalived: FAULT)"
        if vrrp.needs_server:
            servers, why = self.healthy_servers(lb, set())
            if not servers:
                return (f"{lb}'s track script fails: its HAProxy has no server UP ({'; '.join(why)}) "
                        "(keepalived: FAULT)")
        return None

    def masters(self) -> list[str]:
        """Balancers in MASTER state: candidates that hear no candidate ahead of them."""
        facts = self.d.facts
        order = sorted(facts.vrrp, key=lambda lb: (lb != self.holder, -facts.vrrp[lb].priority))
        candidates = [lb for lb in order if self.not_candidate(lb) is None]
        return [lb for n, lb in enumerate(candidates) if not any(self.hears(lb, ahead) for ahead in candidates[:n])]

    def hears(self, lb: str, ahead: str) -> bool:
        """`lb` receives `ahead`'s adverts: on the network of its advert interface, multicast
        (flooded) or unicast to the peers the rendered config names."""
        vrrp = self.d.facts.vrrp[lb]
        advert = self.d.interface_named.get(vrrp.advert_interface or vrrp.interface)
        if advert is None:
            return False
        return self.reach(lb, ahead, advert.network, broadcast=not vrrp.unicast_peers)

    # -- services ------------------------------------------------------------------------------------
    def healthy_servers(self, lb: str, used: set) -> tuple[list[str], list[str]]:
        """Servers `lb`'s HAProxy sees pass GET /health, and why each other one fails."""
        if lb in self._healthy:  # asked again (VRRP's track script, each client): the same paths count
            ok, why, paths = self._healthy[lb]
            used.update(paths)
            return ok, why
        ok, why, paths = [], [], set()
        backend = self.d.facts.backends[lb]
        for server, _backup in backend.servers:
            fails, db_paths = self.server_fails(server)
            paths |= db_paths
            if fails:
                why.append(fails)
            elif not self.reach(lb, server, self.d.home_network[server], used=paths):
                why.append(f"{lb} cannot reach {server}")
            else:
                ok.append(server)
        self._healthy[lb] = (ok, why, paths)
        used.update(paths)
        return ok, why

    def server_fails(self, server: str) -> tuple[str, frozenset]:
        """Why `server`'s GET /health fails whichever balancer asks ('' if it passes), and the
        switch pairs its database path uses: the same for every balancer, so worked out once."""
        if server not in self._server_fails:
            dead = [d for d in self.d.facts.health_needs if not self.daemon_up(d, server)]
            paths: set = set()
            if not self.host_up(server):
                why = f"{server} is down"
            elif dead:
                why = f"{server}'s {dead[0]} is dead (/health fails)"
            else:
                why = self.database_fails(server, paths)
            self._server_fails[server] = (why, frozenset(paths))
        return self._server_fails[server]

    def database_fails(self, server: str, used: set) -> str:
        """Why `server`'s app has no database that can serve ('' if it has one): its own node, or
        the first node of its route that is up, reachable and (Galera) in a majority component.
        The node a route serves from is recorded (db_served): the service depends on it."""
        route = self.d.facts.db_route.get(server, (server,))
        if route == (server,):
            if not self.daemon_up("mariadb", server):
                return f"{server}'s mariadb is dead (/health fails)"
            if not self.has_quorum(server):
                return f"{server}'s Galera node is not in a majority component (/health fails)"
            return ""
        reasons = []
        for node in route:
            if not self.daemon_up("mariadb", node):
                reasons.append(f"{node} is down" if not self.host_up(node) else f"mariadb on {node} is dead")
            elif not self.reach(server, node, self.d.home_network[node], used=used):
                reasons.append(f"{server} cannot reach {node}")
            elif not self.has_quorum(node):
                reasons.append(f"{node}'s Galera node is not in a majority component")
            else:
                self.db_served.add((server, node))
                return ""
        return f"{server} has no database node that serves (/health fails): {'; '.join(reasons)}"

    def has_quorum(self, server: str) -> bool:
        """Galera: the live members `server`'s node reaches form a strict majority of all members
        (true when Galera is off: a standalone database needs no quorum). The members and the
        paths to them are recorded (quorums, quorum_paths): the service depends on them too."""
        members = self.d.facts.galera.get(server)
        if not members:
            return True
        if server not in self._together:
            self._together[server] = self._component_of(server, members)
        together = self._together[server]
        self.quorums.add((server, together))
        return 2 * len(together) > len(members)

    def _component_of(self, server: str, members: tuple[str, ...]) -> tuple[str, ...]:
        network = self.d.home_network[server]
        alive = [m for m in members if self.daemon_up("mariadb", m)]
        if not self.rerouting:  # frozen paths: ask each pair
            return tuple(m for m in alive if m == server or self.reach(server, m, network, used=self.quorum_paths))
        # With the controller running, reaching = both attachments up and in one switch component.
        own = self.intf(server, network)
        if not self.intf_up(own):
            return (server,)
        together = []
        for m in alive:
            intf = self.intf(m, network)
            if m == server or (self.intf_up(intf) and self._components.get(intf.switch) == self._components.get(own.switch)):
                together.append(m)
                self.quorum_paths.add((own.switch, intf.switch))
        return tuple(together)

    def client_path(self, client: str, masters: list[str], used: set) -> tuple[str | None, str]:
        """(the balancer serving `client`, or None and why)."""
        vip_net = self.d.topology.vip.network
        reachable = [m for m in masters if self.reach(client, m, vip_net, used=used)]
        if reachable:
            return reachable[0], ""
        holder = self.holder
        if (not masters and holder and self.host_up(holder) and not self.daemon_up("keepalived", holder)
                and self.daemon_up("haproxy", holder) and self.reach(client, holder, vip_net, used=used)):
            # keepalived was killed, not stopped: nobody removed the VIP from the holder's interface,
            # and with no other MASTER sending gratuitous ARPs clients keep using it.
            return holder, ""
        facts = self.d.facts
        reasons = [self.not_candidate(lb) or (f"{client} cannot reach {lb}" if lb in masters
                                              else f"{lb} is BACKUP: it hears {self._ahead(lb)}'s adverts")
                   for lb in facts.vrrp]
        return None, f"{client} reaches no VIP MASTER: " + "; ".join(reasons)

    def _ahead(self, lb: str) -> str:
        masters = [m for m in self.masters() if m != lb]
        return masters[0] if masters else "another balancer"

    def services(self) -> dict[str, Outcome]:
        out = {}
        if self.d.facts and self.d.clients and self.d.facts.vrrp:
            out.update(self.client_services())
        if self.d.facts and self.d.facts.scrape:
            out["monitoring"] = self.monitoring()
        out["recovery"] = (Outcome(True, used={"controller": True}) if self.controller else
                           Outcome(False, "the only controller is stopped: nothing recomputes paths after a "
                                          "further link cut (switches are fail-secure and keep their old paths"
                                          + ("; fast-failover groups cover one cut with precomputed backups)"
                                             if self.d.topology.controller.fast_failover else ")")))
        return out

    def client_services(self) -> dict[str, Outcome]:
        masters = self.masters()
        down: dict[str, list[str]] = {"web": [], "write": []}
        partial: list[str] = []
        used = {"masters": masters, "servers": set(), "paths": set(), "primary_paths": set()}
        for client in self.d.clients:
            if not self.intf_up(self.intf(client, self.d.topology.vip.network)):
                continue  # its own host, access link or access switch: not held against the design
            lb, why = self.client_path(client, masters, used["paths"])
            if lb is None:
                down["web"].append(why)
                down["write"].append(why)
                continue
            servers, why_not = self.healthy_servers(lb, used["paths"])
            # Split brain: every MASTER the client reaches announces the VIP (gratuitous ARPs, the
            # periodic refresh), so its ARP entry follows whichever spoke last, not the holder.
            others = [m for m in masters if m != lb and self.reach(client, m, self.d.topology.vip.network, used=set())]
            serving = [m for m in others if self.healthy_servers(m, set())[0]]
            idle = [m for m in others if m not in serving]
            if not servers and serving:
                idle, lb = [lb], serving[0]
                servers, why_not = self.healthy_servers(lb, used["paths"])
            if servers and idle:
                partial.append(f"split brain: {client} reaches VIP MASTERs {lb} and {', '.join(idle)}, and "
                               f"{idle[0]} reaches no server that passes {self.d.facts.backends[idle[0]].check}; the "
                               f"VIP's ARP entry follows whichever announced last (VRRP checks only: "
                               f"{', '.join(self.d.facts.vrrp[idle[0]].tracks)})")
            if not servers:
                reason = (f"{client}'s VIP MASTER {lb} reaches no server that passes "
                          f"{self.d.facts.backends[lb].check}: {'; '.join(why_not)}; and nothing moves the VIP "
                          f"for that (VRRP checks only: {', '.join(self.d.facts.vrrp[lb].tracks)})")
                down["web"].append(reason)
                down["write"].append(reason)
                continue
            used["servers"].update(servers)
            written = self.write_path(servers, used["primary_paths"])
            if written:
                down["write"].append(f"{client}: {written}")
        used["quorums"], used["quorum_paths"], used["writers"] = self.quorums, self.quorum_paths, self.writers
        used["db_served"] = self.db_served
        split = " | ".join(dict.fromkeys(partial))
        web = Outcome(not down["web"], " | ".join(down["web"]), used, partial="" if down["web"] else split)
        write = Outcome(not down["write"], " | ".join(down["write"]), used, partial="" if down["write"] else split)
        return {"web": web, "read": web, "write": write}

    def promoted(self) -> str | None:
        """The replica the failover manager promotes in this state, if it does (its rules, from
        hosts/failoverd/decision.py): it lost the primary, reaches a live replica, and no live
        replica still reaches the primary (one that does keeps streaming: no second primary)."""
        f = self.d.facts
        if f.promoter is None or f.db_primary is None or not self.daemon_up(f.promoter, f.promoter_host):
            return None
        primary, network = f.db_primary, self.d.home_network[f.db_primary]
        primary_up = self.daemon_up("mariadb", primary)
        if primary_up and self.reach(f.promoter_host, primary, network):
            return None
        replicas = [s for s in f.db_nodes if s != primary and self.daemon_up("mariadb", s)
                    and self.reach(f.promoter_host, s, network)]
        if not replicas or (primary_up and any(self.reach(r, primary, network) for r in replicas)):
            return None
        return replicas[0]

    def write_path(self, servers: list[str], used: set) -> str:
        """Why no serving server can write on its primary ('' if one can)."""
        reasons = []
        promoter = self.d.facts.promoter
        promoted = self.promoted()
        for server in servers:
            primary = promoted or self.d.facts.write_primary[server]
            if primary is None:  # Galera, no node of its own: writes where /health found a node
                self.writers.update((node, False) for s, node in self.db_served if s == server)
                return ""
            network = self.d.home_network[primary]
            if not self.daemon_up("mariadb", primary):
                what = f"{primary} is down" if not self.host_up(primary) else f"mariadb on {primary} is dead"
                reasons.append(f"writes go to one primary ({primary}: {what}) and "
                               + ("nothing promotes a replica automatically" if promoter is None
                                  else f"{promoter} has not promoted one"))
            elif not self.reach(server, primary, network, used=used):
                reasons.append(f"{server}'s app cannot reach the primary {primary}")
            else:
                self.writers.add((primary, bool(promoted)))
                return ""
        return "; ".join(dict.fromkeys(reasons))

    def in_site(self, host: str) -> bool:
        """Some other live balancer or server reaches `host` on the service network: it still
        takes part in the site (a host its own cut isolated is out of it, and rightly seen down)."""
        if host not in self._in_site:  # each monitor asks about the hosts it cannot reach
            self._in_site[host] = any(self.reach(w, host, self.d.backend_network) for w in self.d.site_hosts
                                      if w != host and self.host_up(w))
        return self._in_site[host]

    def monitoring(self) -> Outcome:
        """Up while some replica raises and delivers alerts. used["replicas"]: the (Prometheus
        host, Alertmanager host) pairs that do (Alertmanager None: no alerting configured, the
        rules alone); used["paths"]: the switch pairs between them."""
        facts, reasons = self.d.facts, []
        used = {"replicas": set(), "paths": set()}
        for monitor in facts.scrape:
            if not self.daemon_up("prometheus", monitor):
                reasons.append(f"Prometheus on {monitor} is " + ("down" if not self.host_up(monitor) else "dead"))
                continue
            others = [h for h in facts.scrape[monitor] if h != monitor and self.host_up(h)]
            paths: set = set()
            unreached = [h for h in others if not self.reach(monitor, h, self.d.backend_network, used=paths)]
            if others and len(unreached) == len(others):
                reasons.append(f"Prometheus on {monitor} reaches none of the hosts it scrapes (cut off, it "
                               "alerts on every one of them: false alarms, not a view of the site)")
                continue
            missed = [h for h in unreached if self.in_site(h)]
            if missed:
                reasons.append(f"Prometheus on {monitor} cannot reach {', '.join(missed)}, still part of the site "
                               "(a balancer or server reaches it): it alerts on them and is blind to their state")
                continue
            used["paths"] |= paths
            managers = facts.alerting.get(monitor)
            if managers is None:  # rules evaluated, nowhere to send them
                used["replicas"].add((monitor, None))
                continue
            why = []
            for manager in managers:
                receivers = facts.receivers.get(manager, ())
                if not self.daemon_up("alertmanager", manager):
                    why.append(f"Alertmanager on {manager} is " + ("down" if not self.host_up(manager) else "dead"))
                elif not any(self.daemon_up(daemon, host) for host, daemon in receivers):
                    why.append(f"the receiver of {manager}'s Alertmanager ("
                               + (", ".join(f"{d}@{h}" for h, d in receivers) or "none configured") + ") is dead")
                elif manager != monitor and not self.reach(monitor, manager, self.d.backend_network, used=used["paths"]):
                    why.append(f"Prometheus on {monitor} cannot reach the Alertmanager on {manager}")
                else:
                    used["replicas"].add((monitor, manager))
            if not any(m == monitor for m, _ in used["replicas"]):
                reasons.append(f"Prometheus on {monitor} delivers no alert: " + ("; ".join(why) or "no Alertmanager"))
        if used["replicas"]:
            return Outcome(True, used=used)
        return Outcome(False, " | ".join(reasons) or "no Prometheus")
