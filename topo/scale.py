"""Topologies for scale runs: the default one with more (or fewer) active servers and clients.

    scaled_topology(load_topology(), active_servers=47, clients=16[, db_nodes=N])

      clients   client1 s1, client2 s2, client3 s1, ...        in turn over the switches of the
                                                               base's clients (the default: s1, s2)
      servers   server1 s3, server2 s4, server4 s3, ...        in turn over the switches of the
                server3 (backup, s5, kept as it is)            base's active servers (s3, s4);
                                                               numbers skip names already taken

      database  the base's nodes (the default: server1-3, every server it has), whatever the
                number of servers; db_nodes=N: the first N servers instead

Everything else (balancers, monitor, switches, services, the backup servers) is the base's, so
a scaled run differs from the default only in how many servers and clients there are: the web
and application tier grows, the database tier stays (48 Galera nodes do not form a cluster on
a 2-core VM: README "Scale"; the servers without a node use the nodes over the network); asking
for the base's own counts gives the base back. The base's first hosts of a role are kept; new
ones go to the end of the host list, so when growing every host of the base keeps its address
and port, and the new ones get the next free addresses (file order, as for any host written
without one). The result is validated like a topology file: a count the networks have
no addresses for is a TopologyError, before anything starts.
"""

from __future__ import annotations

import copy
from itertools import count

from topo.model import Topology, TopologyError, parse_topology
from topo.plan import plan_network


def _grown(data: dict, role: str, number: int, is_active) -> None:
    """Keep the first `number` hosts of `role` passing `is_active` and add new ones up to it,
    named <role><n> and placed in turn like the kept ones were."""
    hosts = data["hosts"]
    kept = [name for name, host in hosts.items() if host["role"] == role and is_active(host)]
    templates = [hosts[name]["interfaces"] for name in kept]
    for name in kept[number:]:
        del hosts[name]
    free = (f"{role}{n}" for n in count(1) if f"{role}{n}" not in hosts)
    for index in range(len(kept), number):
        interfaces = [{"network": i["network"], "switch": i["switch"]} for i in templates[index % len(templates)]]
        hosts[next(free)] = {"role": role, "interfaces": interfaces}


def _database_tier(data: dict, base: Topology, db_nodes: int | None) -> None:
    """services.mariadb.nodes: the base's nodes still present, or the first `db_nodes` servers."""
    servers = [name for name, host in data["hosts"].items() if host["role"] == "server"]
    mariadb = data.setdefault("services", {}).setdefault("mariadb", {})
    if db_nodes is None:
        mariadb["nodes"] = [n for n in base.database_nodes() if n in servers]
    else:
        mariadb["nodes"] = servers[:db_nodes]


def scaled_topology(base: Topology, active_servers: int, clients: int, db_nodes: int | None = None) -> Topology:
    """The base with `active_servers` active (non-backup) servers and `clients` clients, and its
    database nodes (or the first `db_nodes` servers)."""
    if db_nodes is not None and db_nodes < 1:
        raise TopologyError(f"a scaled topology needs at least one database node (asked for {db_nodes})")
    if active_servers < 1 or clients < 1:
        raise TopologyError(f"a scaled topology needs at least one active server and one client "
                            f"(asked for {active_servers} and {clients})")
    original = base.model_dump(mode="json", by_alias=True)
    data = copy.deepcopy(original)
    for role, number, is_active in (("server", active_servers, lambda h: not h["backup"]),
                                    ("client", clients, lambda h: True)):
        if not any(h["role"] == role and is_active(h) for h in data["hosts"].values()):
            raise TopologyError(f"{base.name}: has no {'active ' if role == 'server' else ''}{role} "
                                "to place new ones like")
        _grown(data, role, number, is_active)
    before = copy.deepcopy(data)
    _database_tier(data, base, db_nodes)
    if before == original and db_nodes is None:
        return base
    data["name"] = f"{base.name}-s{active_servers}-c{clients}" + (f"-d{db_nodes}" if db_nodes is not None else "")
    source = f"{base.name} scaled to {active_servers} active servers and {clients} clients"
    topology = parse_topology(data, source)
    try:
        plan_network(topology)
    except ValueError as exc:  # the networks have no address left for a host
        raise TopologyError(f"{source}: {exc}") from None
    return topology
