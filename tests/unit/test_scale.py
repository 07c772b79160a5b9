"""The scale-run topology generator: the default with N active servers (+ the backup) and M
clients, placed the way the default places them, validated (no root)."""

import pytest

from topo.errors import BadInputError
from topo.model import load_topology
from topo.plan import plan_network
from topo.scale import scaled_topology


@pytest.fixture(scope="module")
def base():
    return load_topology()


def test_the_default_counts_give_the_default_back(base):
    assert scaled_topology(base, 2, 2) is base


@pytest.mark.parametrize("servers,clients", [(1, 1), (11, 4), (23, 8), (47, 16)])
def test_counts_roles_and_a_valid_plan(base, servers, clients):
    topology = scaled_topology(base, servers, clients)
    hosts = topology.hosts
    active = [h for h in topology.hosts_with_role("server") if not hosts[h].backup]
    assert len(active) == servers
    assert [h for h in topology.hosts_with_role("server") if hosts[h].backup] == ["server3"]
    assert len(topology.hosts_with_role("client")) == clients
    assert topology.hosts_with_role("lb") == ["lb1", "lb2"] and topology.hosts_with_role("monitor") == ["monitor", "monitor2"]
    # The database tier stays the base's (every server it has), written out; the rest is the base's.
    expected = set(base.hosts_with_role("server")) & set(topology.hosts)
    assert topology.services.mariadb.nodes == [s for s in base.hosts_with_role("server") if s in expected]
    mariadb = topology.services.mariadb.model_copy(update={"nodes": None})
    assert topology.services.model_copy(update={"mariadb": mariadb}) == base.services
    assert topology.switch_links == base.switch_links
    assert topology.name == f"seed-s{servers}-c{clients}"
    plan = plan_network(topology)
    assert len(plan.interfaces) == sum(len(h.interfaces) for h in hosts.values())


def test_placement_alternates_like_the_default(base):
    topology = scaled_topology(base, 47, 16)
    switch = {name: host.interfaces[0].switch for name, host in topology.hosts.items()}
    clients = topology.hosts_with_role("client")
    assert [switch[c] for c in clients] == ["s1", "s2"] * 8
    active = [s for s in topology.hosts_with_role("server") if not topology.hosts[s].backup]
    assert active[:4] == ["server1", "server2", "server4", "server5"] and active[-1] == "server48"
    assert [switch[s] for s in active] == (["s3", "s4"] * 24)[:47]
    assert switch["server3"] == "s5"


def test_growing_keeps_every_base_host_where_it_was(base):
    before, after = plan_network(base), plan_network(scaled_topology(base, 47, 16))
    for intf in before.interfaces:
        assert intf in after.interfaces


@pytest.mark.parametrize("servers,clients", [(0, 2), (2, 0), (300, 2)])
def test_counts_that_cannot_be_built_are_bad_input(base, servers, clients):
    with pytest.raises(BadInputError):
        scaled_topology(base, servers, clients)


def test_the_database_tier_can_be_sized_apart_from_the_servers(base):
    assert scaled_topology(base, 47, 16).services.mariadb.nodes == ["server1", "server2", "server3"]
    grown = scaled_topology(base, 4, 2, db_nodes=5)
    assert grown.services.mariadb.nodes == ["server1", "server2", "server3", "server4", "server5"]
    assert grown.name == "seed-s4-c2-d5"
    with pytest.raises(BadInputError, match="at least one database node"):
        scaled_topology(base, 4, 2, db_nodes=0)
