"""Addressing and port plan: deterministic, collision-free, and what the controller is told."""

import copy
import ipaddress

import networkx as nx
import pytest
import yaml

from topo.model import DEFAULT_TOPOLOGY, TopologyError, load_topology, parse_topology
from topo.plan import plan_network

DEFAULT = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


@pytest.fixture(scope="module")
def plan():
    return plan_network(load_topology())


def test_addresses_follow_file_order_from_first_host(plan):
    assert str(plan.address("client1", "internet")) == "10.0.1.10"
    assert str(plan.address("client2", "internet")) == "10.0.1.11"
    assert str(plan.address("lb1", "internet")) == "10.0.1.12"
    assert str(plan.address("lb1", "service")) == "10.0.2.10"
    assert str(plan.address("server1", "service")) == "10.0.2.12"


def test_no_address_or_mac_is_used_twice_and_the_vip_is_free(plan):
    ips = [intf.ip for intf in plan.interfaces]
    macs = [intf.mac for intf in plan.interfaces]
    assert len(set(ips)) == len(ips) and len(set(macs)) == len(macs)
    assert plan.topology.vip.address not in ips
    for intf in plan.interfaces:
        assert intf.ip in plan.topology.networks[intf.network].subnet


def test_macs_are_locally_administered_unicast(plan):
    for intf in plan.interfaces:
        first = int(intf.mac.split(":")[0], 16)
        assert first & 0b10 and not first & 0b01


def test_explicit_addresses_are_kept_and_skipped_by_auto_assignment():
    data = copy.deepcopy(DEFAULT)
    data["hosts"]["client2"]["interfaces"][0]["address"] = "10.0.1.10"
    plan = plan_network(parse_topology(data))
    assert str(plan.address("client2", "internet")) == "10.0.1.10"
    assert str(plan.address("client1", "internet")) == "10.0.1.11"


def test_switch_ports_isl_first_then_hosts_and_unique(plan):
    used = {}
    for link in plan.switch_links:
        for switch, port in ((link.a, link.a_port), (link.b, link.b_port)):
            assert (switch, port) not in used
            used[(switch, port)] = "isl"
    for intf in plan.interfaces:
        assert (intf.switch, intf.switch_port) not in used
        used[(intf.switch, intf.switch_port)] = intf.name
    for switch in plan.topology.switches:
        ports = sorted(port for (s, port) in used if s == switch)
        assert ports == list(range(1, len(ports) + 1))
        isl_ports = [port for (s, port), what in used.items() if s == switch and what == "isl"]
        assert max(isl_ports) < min(p for p in ports if p not in isl_ports)


def test_fabric_for_the_controller(plan):
    fabric = plan.fabric()
    assert fabric["switches"] == {"s1": {"dpid": 1}, "s2": {"dpid": 2}, "s3": {"dpid": 3}, "s4": {"dpid": 4},
                                  "s5": {"dpid": 5}}
    assert {"a": "s1", "a_port": 1, "b": "s2", "b_port": 1} in fabric["links"]


def test_default_fabric_survives_any_single_link_cut(plan):
    graph = nx.MultiGraph()
    graph.add_edges_from((l.a, l.b) for l in plan.switch_links)
    assert not list(nx.bridges(nx.Graph(graph)))


def test_reachable_pairs_are_hosts_sharing_a_network(plan):
    pairs = {(src, dst) for src, dst, _ in plan.reachable_pairs()}
    assert ("client1", "lb1") in pairs and ("lb1", "server1") in pairs and ("server1", "monitor") in pairs
    assert ("client1", "server1") not in pairs and ("monitor", "client2") not in pairs
    # 4 hosts on internet, 7 on service: 4*3 + 7*6 ordered pairs
    assert len(plan.reachable_pairs()) == 54


def test_a_network_without_room_for_its_hosts_is_refused_by_the_model_before_planning():
    data = copy.deepcopy(DEFAULT)
    data["networks"]["internet"] = {"subnet": "10.0.1.0/29", "first_host": 5}
    data["vip"]["address"] = "10.0.1.1"
    with pytest.raises(TopologyError, match="networks.internet: 4 interfaces need an automatic address but "
                                            "10.0.1.0/29 has 2 free from host number 5 up"):
        parse_topology(data)
    data["networks"]["internet"]["first_host"] = 3  # .3-.6: room for the four
    assert len([i for i in plan_network(parse_topology(data)).interfaces if i.network == "internet"]) == 4


def test_interface_names_fit_linux_limit(plan):
    for name in plan.root_namespace_interfaces() + [i.name for i in plan.interfaces]:
        assert len(name) <= 15
    assert all(isinstance(i.ip, ipaddress.IPv4Address) for i in plan.interfaces)
