"""Firewall rules rendered from the policy in the topology: order, scope and default deny."""

import copy
from pathlib import Path

import pytest
import yaml

from hosts.firewall import Firewall
from hosts.site import Site
from topo.model import DEFAULT_TOPOLOGY, TopologyError, load_topology, parse_topology
from topo.plan import plan_network

SITE = Site(plan_network(load_topology()), Path("/tmp/hatestbed-unit"))


def rules(host, site=SITE):
    return Firewall(site, host).rule_lines()


def rendered(host):
    return next(iter(Firewall(SITE, host).files().values()))


def test_default_deny_frame_and_order():
    lines = rendered("server1").splitlines()
    body = [l for l in lines if l and not l.startswith("#")]
    assert body[:4] == ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    assert body[4] == "-A INPUT -i lo -j ACCEPT"
    assert "ESTABLISHED,RELATED" in body[5]
    assert body[-2] == '-A INPUT -m comment --comment "default deny" -j DROP'
    assert body[-1] == "COMMIT"


def test_load_balancers_accept_web_ports_on_the_vip_from_anyone():
    web = [r for r in rules("lb1") if '"web"' in r]
    assert web == ['-d 10.0.1.100/32 -p tcp -m multiport --dports 80,443 -m comment --comment "web" -j ACCEPT']
    assert not [r for r in rules("server1") if '"web"' in r]


def test_vrrp_only_from_the_peer_on_the_service_side_and_decided_before_conntrack():
    """Unicast adverts: dropped on the front leg, accepted on the back leg only from the other
    balancer to this one, anything else dropped; all before ESTABLISHED (conntrack would let a
    forged advert with the peers' addresses in, whatever the interface)."""
    body = [line for line in rendered("lb2").splitlines() if line.startswith("-A INPUT")]
    assert body[1:4] == [
        '-A INPUT -i lb2-eth0 -p vrrp -m comment --comment "vrrp-from-internet" -j DROP',
        '-A INPUT -i lb2-eth1 -s 10.0.2.10/32 -d 10.0.2.11/32 -p vrrp -m comment --comment "vrrp" -j ACCEPT',
        '-A INPUT -p vrrp -m comment --comment "vrrp-not-a-peer" -j DROP']
    assert "ESTABLISHED" in body[4]
    assert not [r for r in rules("lb2") if "vrrp" in r]  # none in the ordinary place
    assert not [r for r in rules("server1") + rules("client1") if "vrrp" in r]
    assert "vrrp" not in rendered("server1")


def test_vrrp_multicast_on_the_front_is_accepted_from_every_balancer_address():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"keepalived": {"adverts": "front-multicast"}}
    site = Site(plan_network(parse_topology(data)), Path("/tmp/hatestbed-unit"))
    vrrp = [r for r in rules("lb2", site) if "vrrp" in r]
    assert len(vrrp) == 1
    assert vrrp[0].startswith("-s 10.0.1.12/32,10.0.2.10/32,10.0.1.13/32,10.0.2.11/32 -d 224.0.0.18/32 -p vrrp")
    assert Firewall(site, "lb2").first_lines() == []


def test_servers_accept_tls_and_agent_from_lbs_and_database_from_servers_only():
    server_rules = rules("server2")
    lb_sources = "-s 10.0.1.12/32,10.0.2.10/32,10.0.1.13/32,10.0.2.11/32"
    assert f'{lb_sources} -p tcp -m multiport --dports 443,9999 -m comment --comment "lb-to-servers" -j ACCEPT' in server_rules
    database = [r for r in server_rules if '"database"' in r]
    assert database == ['-s 10.0.2.12/32,10.0.2.13/32,10.0.2.14/32 -p tcp -m multiport --dports 3306 '
                        '-m comment --comment "database" -j ACCEPT']


def test_monitor_reaches_exporters_and_clients_accept_nothing_but_ping():
    assert any('"monitoring"' in r and "9100,9104,8404" in r for r in rules("lb1"))
    assert rules("client1") == ['-p icmp --icmp-type echo-request -m comment --comment "ping" -j ACCEPT']


def test_policy_is_yaml_and_network_destinations_use_the_local_address():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"firewall": [{"name": "ssh", "from": ["monitor"], "to": ["service"], "ports": [22]}]}
    site = Site(plan_network(parse_topology(data)), Path("/tmp/x"))
    assert rules("server1", site) == ['-s 10.0.2.15/32,10.0.2.16/32 -d 10.0.2.12/32 -p tcp -m multiport --dports 22 '
                                      '-m comment --comment "ssh" -j ACCEPT']
    assert rules("client1", site) == []


@pytest.mark.parametrize("rule, message", [
    ({"name": "x", "from": ["nobody"], "to": ["lb"]}, "services.firewall.0: unknown host, role or network 'nobody'"),
    ({"name": "x", "from": ["lb"], "to": ["lb"], "ports": ["telnet"]}, "services.firewall.0.ports: unknown port name 'telnet'"),
    ({"name": "x", "from": ["lb"], "to": ["lb"], "proto": "sctp"}, "services.firewall.0.proto: Input should be"),
    ({"name": "x", "form": ["lb"], "to": ["lb"]}, "services.firewall.0.form: unknown field"),
])
def test_bad_policy_is_a_located_error(rule, message):
    data = copy.deepcopy(yaml.safe_load(DEFAULT_TOPOLOGY.read_text()))
    data["services"] = {"firewall": [rule]}
    with pytest.raises(TopologyError) as info:
        parse_topology(data, "t.yaml")
    assert message in str(info.value)


def test_a_rule_from_a_role_no_host_has_admits_nobody_rather_than_everybody():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["hosts"] = {name: host for name, host in data["hosts"].items() if host["role"] != "monitor"}
    site = Site(plan_network(parse_topology(data)), Path("/tmp/hatestbed-unit"))
    with_monitor = [r for r in rules("server1") if "monitor" in r or "9100" in r]
    assert with_monitor, "the default policy lets the monitor scrape server1"
    lines = rules("server1", site)
    assert not [r for r in lines if "-s  " in r or r.startswith("-s -")]
    assert len(lines) == len(rules("server1")) - len(with_monitor)
