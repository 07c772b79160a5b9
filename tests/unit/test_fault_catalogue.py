"""Fault addresses without a network: the catalogue of a topology and the parser of an address."""

from __future__ import annotations

import pytest
import yaml

from experiments.faults import (ATTACKS, Attack, ControllerStop, DaemonFreeze, DaemonKill, FaultError, LinkDown,
                                NodeCrash, Partition, ProcessCrash, SwitchCrash, catalogue, parse)
from hatestbed.testbed import Testbed
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology


@pytest.fixture
def testbed(tmp_path):
    """The default topology planned, services described, nothing started."""
    tb = Testbed(load_topology())
    site = Site(tb.plan, tmp_path)
    tb.services = ServiceManager(site, daemons_for(site))
    return tb


def addresses(topology) -> list[str]:
    return [entry.address for entry in catalogue(topology)]


def test_the_default_catalogue_has_every_host_daemon_link_the_controller_and_every_attack():
    topology = load_topology()
    listed = addresses(topology)
    assert len(listed) == len(set(listed))
    for host in topology.hosts:
        assert f"node:{host}" in listed
    for switch in topology.switches:
        assert f"node:{switch}" in listed
    for daemon in ("haproxy@lb1", "keepalived@lb2", "mariadb@server1", "nginx@server3", "app@server2",
                   "prometheus@monitor", "node_exporter@lb1", "mysqld_exporter@server1"):
        assert f"daemon:{daemon}" in listed
    assert not [a for a in listed if a.startswith("daemon:firewall")]  # a host setting, not a process
    for a, b in topology.switch_links:
        assert f"link:{a}-{b}" in listed
    for host in ("client1-s1", "lb1-s1", "lb1-s3", "server3-s5", "monitor-s4", "monitor2-s3"):
        assert f"link:{host}" in listed
    assert "controller" in listed
    assert "partition:lb1|lb2" in listed
    assert [a for a in listed if a.startswith("attack:")] == [f"attack:{name}" for name in ATTACKS]


def test_another_topology_gives_another_catalogue():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    del data["hosts"]["client2"]
    data["hosts"]["server4"] = {"role": "server", "interfaces": [{"network": "service", "switch": "s4"}]}
    data["switch_links"].append(["s1", "s4"])
    listed = addresses(parse_topology(data, "edited"))
    assert "node:server4" in listed and "daemon:nginx@server4" in listed and "link:s1-s4" in listed
    assert "node:client2" not in listed
    assert not [a for a in listed if a.startswith("attack:")]  # no second client: no attacker


def test_a_bare_network_has_no_daemons_or_attacks():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"enabled": False}
    listed = addresses(parse_topology(data, "bare"))
    assert not [a for a in listed if a.startswith(("daemon:", "attack:"))]
    assert "node:lb1" in listed and "link:s1-s2" in listed


def test_every_listed_address_parses_back_into_its_fault(testbed):
    kinds = {"node": (NodeCrash, SwitchCrash), "processes": ProcessCrash, "daemon": DaemonKill, "link": LinkDown, "partition": Partition,
             "controller": ControllerStop, "attack": Attack}
    for entry in catalogue(testbed.topology):
        fault = parse(entry.address, testbed)
        assert isinstance(fault, kinds[entry.address.partition(":")[0]])
        assert fault.address == entry.address
        assert fault.describe()["address"] == entry.address
        assert fault.injected_at is None and fault.recovered_at is None


def test_a_daemon_can_be_frozen_instead_of_killed(testbed):
    fault = parse("daemon:haproxy@lb1", testbed, freeze=True)
    assert isinstance(fault, DaemonFreeze) and fault.describe()["signal"] == "SIGSTOP"


def test_links_parse_in_either_order_and_host_links_too(testbed):
    assert parse("link:s2-s1", testbed).ends == parse("link:s1-s2", testbed).ends
    assert parse("link:s3-lb1", testbed).ends == parse("link:lb1-s3", testbed).ends


@pytest.mark.parametrize("address, message", [
    ("nonsense", "unknown fault address 'nonsense'; the forms are node:<host>"),
    ("disk:server1", "unknown fault address 'disk:server1'"),
    ("node:", "unknown fault address"),
    ("node:server9", "unknown host 'server9'"),
    ("daemon:haproxy", "use daemon:<daemon>@<host>"),
    ("daemon:nginx@lb1", "no daemon 'nginx' on lb1"),
    ("daemon:firewall@lb1", "host setting, not a process"),
    ("link:s1-s4", "no link between s1 and s4"),
    ("link:s1s2", "use link:<a>-<b>"),
    ("link:client1-lb1", "both hosts"),
    ("partition:lb1", "use partition:<hosts>|<hosts>"),
    ("partition:lb1|lb1", "lb1 on both sides"),
    ("partition:|lb1", "group_a is empty"),
    ("attack:teardrop", "unknown attack 'teardrop'; attacks: rst_to_client"),
])
def test_a_bad_address_is_a_clear_fault_error(testbed, address, message):
    with pytest.raises(FaultError, match=message.replace("|", r"\|").replace("(", r"\(")):
        parse(address, testbed)


def test_an_attack_that_the_topology_cannot_run_is_refused(tmp_path):
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    del data["hosts"]["client2"]
    tb = Testbed(parse_topology(data, "one client"))
    with pytest.raises(FaultError, match="attack:garp cannot run on this topology: needs two clients"):
        parse("attack:garp", tb)


def test_attack_rows_build_their_arguments_from_the_site(testbed):
    import random

    class Running:  # the row's options read the topology and, for the spoof, the VIP holder
        topology, plan, net = testbed.topology, testbed.plan, None

    garp = ATTACKS["garp"].options(Running, random.Random(1))
    assert garp[:4] == ["--iface", "client2-eth0", "--vip", "10.0.1.100"]
    rst = ATTACKS["rst_to_server"].options(Running, random.Random(1))
    assert ["--direction", "to-server"] == rst[rst.index("--direction"):rst.index("--direction") + 2]
    own = ATTACKS["vrrp_own_source"].options(Running, random.Random(1))
    assert own[own.index("--src") + 1] == "10.0.1.11" and own[own.index("--vrid") + 1] == "51"
    flood = ATTACKS["synflood"].options(Running, random.Random(1))
    assert flood[flood.index("--seed") + 1] == str(random.Random(1).randrange(2 ** 31))
    for row in ATTACKS.values():
        assert 0 < row.bound_s <= 60 and row.window_s > 0 and row.affected


def test_a_switch_is_addressed_as_a_node_and_takes_every_port(testbed):
    fault = parse("node:s3", testbed)
    assert isinstance(fault, SwitchCrash) and fault.address == "node:s3"
    fabric = [p for p in fault.ports if p in ("s3-eth1", "s3-eth2", "s3-eth3")]
    assert len(fabric) == 3 and len(fault.ports) == 3 + 3  # s4, s1, s5; lb1's back leg, server1, monitor2
    assert {s for s, _ in fault.neighbour_ports} == {"s1", "s4", "s5"}
