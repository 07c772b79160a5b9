"""Topology loading: the default file, and every way a file can be wrong."""

import copy
from pathlib import Path

import pytest
import yaml

from topo.model import DEFAULT_TOPOLOGY, TopologyError, load_topology, parse_topology

DEFAULT = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


def test_default_topology_has_the_seed_hosts():
    topology = load_topology()
    assert set(topology.hosts) == {"client1", "client2", "lb1", "lb2", "server1", "server2", "server3", "monitor",
                                   "monitor2"}
    assert topology.switches == ["s1", "s2", "s3", "s4", "s5"]
    # One database node per service switch: none of them holds a Galera majority.
    assert {topology.hosts[s].interfaces[0].switch for s in topology.database_nodes()} == {"s3", "s4", "s5"}
    assert topology.hosts_with_role("lb") == ["lb1", "lb2"]
    assert topology.hosts_with_role("server") == ["server1", "server2", "server3"]
    assert [n for n in topology.hosts_with_role("server") if topology.hosts[n].backup] == ["server3"]
    assert str(topology.vip.address) == "10.0.1.100"


def broken(edit) -> str:
    data = copy.deepcopy(DEFAULT)
    edit(data)
    with pytest.raises(TopologyError) as info:
        parse_topology(data, "bad.yaml")
    return str(info.value)


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d.update(colour="blue"), "bad.yaml: colour: unknown field"),
    (lambda d: d["hosts"]["lb1"].update(rol="lb"), "bad.yaml: hosts.lb1.rol: unknown field"),
    (lambda d: d["hosts"]["lb1"].update(role="router"), "bad.yaml: hosts.lb1.role: Input should be"),
    (lambda d: d["hosts"]["client1"].update(backup=True), "hosts.client1: backup: only a server can be a backup"),
    (lambda d: d["hosts"]["client1"].update(interfaces=[]), "bad.yaml: hosts.client1.interfaces: List should have at least 1"),
    (lambda d: d["hosts"]["client1"]["interfaces"][0].update(switch="s9"),
     "bad.yaml: hosts.client1.interfaces.0.switch: unknown switch 's9'"),
    (lambda d: d["hosts"]["client1"]["interfaces"][0].update(network="dmz"),
     "bad.yaml: hosts.client1.interfaces.0.network: unknown network 'dmz'"),
    (lambda d: d["hosts"]["client1"]["interfaces"][0].update(address="10.0.9.1"),
     "hosts.client1.interfaces.0.address: 10.0.9.1 is not a host address of 10.0.1.0/24"),
    (lambda d: d["hosts"]["client1"]["interfaces"][0].update(address="10.0.1.100"),
     "hosts.client1.interfaces.0.address: 10.0.1.100 is already used by vip.address"),
    (lambda d: d["hosts"]["client1"]["interfaces"][0].update(address="not-an-ip"),
     "bad.yaml: hosts.client1.interfaces.0.address: Input is not a valid IPv4 address"),
    (lambda d: d["hosts"]["client1"]["interfaces"].append({"network": "internet", "switch": "s2"}),
     "hosts.client1.interfaces.1.network: client1 already has an interface in 'internet'"),
    (lambda d: d["hosts"]["lb1"].update(interfaces=[{"network": "service", "switch": "s3"}]),
     "hosts.lb1: a load balancer needs an interface in the VIP network 'internet'"),
    (lambda d: d["hosts"].update({"Bad_Name": d["hosts"]["client1"]}), "bad.yaml: hosts: name 'Bad_Name' must be"),
    (lambda d: d["hosts"].update({"averyverylongname": d["hosts"]["client1"]}), "name 'averyverylongname' must be"),
    (lambda d: d["hosts"].update({"s1": d["hosts"]["client1"]}), "hosts: 's1' is also a switch name"),
    (lambda d: d.update(switches=["s1", "switch2"]), "bad.yaml: switches: switch name 'switch2' must be"),
    (lambda d: d.update(switches=["s1", "s1"]), "bad.yaml: switches: switch names repeat"),
    (lambda d: d["switch_links"].append(["s1", "s7"]), "switch_links.6: unknown switch 's7'"),
    (lambda d: d["switch_links"].append(["s1", "s1"]), "switch_links.6: a link must join two different switches"),
    (lambda d: d["switch_links"].append(["s1", "s2", "s3"]), "bad.yaml: switch_links.6: Tuple should have at most 2"),
    (lambda d: d.update(switch_links=[["s1", "s2"], ["s3", "s4"]]), "switch_links: the switches do not form one connected fabric"),
    (lambda d: d["vip"].update(address="10.0.2.100"), "vip.address: 10.0.2.100 is outside 10.0.1.0/24"),
    (lambda d: d["vip"].update(network="dmz"), "vip.network: unknown network 'dmz'"),
    (lambda d: d["networks"]["internet"].update(subnet="10.0.1.0/30"), "networks.internet.subnet: Value error, subnet is too small"),
    (lambda d: d["networks"]["internet"].update(subnet="10.0.1.1/24"), "bad.yaml: networks.internet.subnet: Input is not a valid IPv4 network"),
    (lambda d: d["controller"].update(port=80), "bad.yaml: controller.port: Input should be greater than or equal to 1024"),
    (lambda d: d.pop("vip"), "bad.yaml: vip: Field required"),
    (lambda d: d.update(services={"mariadb": {"mode": "raft"}}),
     "bad.yaml: services.mariadb.mode: Input should be 'galera', 'semisync' or 'async'"),
    (lambda d: d.update(services={"mariadb": {"nodes": ["server1", "lb1"]}}),
     "bad.yaml: services.mariadb.nodes.1: 'lb1' is not a server"),
    (lambda d: d.update(services={"mariadb": {"nodes": ["server1", "server1"]}}),
     "bad.yaml: services.mariadb.nodes: a server is named twice"),
    (lambda d: d.update(services={"mariadb": {"nodes": ["server2", "server3"]}}),
     "bad.yaml: services.mariadb.nodes: the primary 'server1' must be one of them"),
    (lambda d: d.update(services={"mariadb": {"nodes": []}}), "bad.yaml: services.mariadb.nodes: List should have at least 1"),
])
def test_every_error_names_file_and_field(edit, expected):
    assert expected.replace("Value error, ", "") in broken(edit)


def test_one_error_reported_with_a_count_of_the_rest():
    message = broken(lambda d: d.update(colour="blue", flavour="mint"))
    assert message.startswith("bad.yaml: ") and "(and 1 more)" in message
    assert "\n" not in message


def test_file_that_is_not_a_mapping(tmp_path: Path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(TopologyError, match=r"list.yaml: the file must hold a mapping of fields, not list"):
        load_topology(path)


def test_invalid_yaml_names_the_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nhosts: [unclosed\n")
    with pytest.raises(TopologyError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_topology(path)


def test_duplicate_keys_are_an_error(tmp_path: Path):
    text = DEFAULT_TOPOLOGY.read_text().replace("  client2:\n", "  client1:\n", 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError, match=r"dup.yaml: line \d+: not valid YAML: duplicate key 'client1'"):
        load_topology(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(TopologyError, match=r"nope.yaml: cannot read: No such file"):
        load_topology(tmp_path / "nope.yaml")


def test_adding_a_server_is_a_yaml_edit():
    data = copy.deepcopy(DEFAULT)
    data["hosts"]["server4"] = {"role": "server", "interfaces": [{"network": "service", "switch": "s4"}]}
    topology = parse_topology(data)
    assert topology.hosts_with_role("server")[-1] == "server4"


def _only_internet(d, host):
    d["hosts"][host]["interfaces"] = [{"network": "internet", "switch": "s1"}]


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["networks"]["service"].update(subnet="10.0.1.128/25"),
     "bad.yaml: networks.service.subnet: 10.0.1.128/25 overlaps networks.internet (10.0.1.0/24)"),
    (lambda d: d.setdefault("services", {}).update(ports={"https": 70000}),
     "bad.yaml: services.ports.https: Input should be less than or equal to 65535"),
    (lambda d: d.setdefault("services", {}).update(firewall=[{"name": "x", "from": ["any"], "to": ["vip"],
                                                               "ports": [0]}]),
     "bad.yaml: services.firewall.0.ports: 0 is not a port number (1-65535)"),
    (lambda d: d.update(hosts={n: h for n, h in d["hosts"].items() if h["role"] != "lb"}),
     "bad.yaml: hosts: the services need at least one load balancer (role: lb) to hold the VIP"),
    (lambda d: d.update(hosts={n: h for n, h in d["hosts"].items() if h["role"] != "server" or h.get("backup")}),
     "the services need at least one server (role: server) that is not a backup"),
    (lambda d: _only_internet(d, "server1"),
     "bad.yaml: hosts.server1.interfaces: a server's first interface must be on the service network, not on the VIP"),
    (lambda d: _only_internet(d, "server2"),
     "bad.yaml: hosts.server2.interfaces: a server needs an interface on the service network 'service'"),
    (lambda d: d["networks"]["service"].update(subnet="10.0.2.0/29"),
     "bad.yaml: networks.service: 7 interfaces need an automatic address but 10.0.2.0/29 has 0 free from host number 10"),
    (lambda d: d["networks"]["internet"].update(first_host=252),
     "bad.yaml: networks.internet: 4 interfaces need an automatic address but 10.0.1.0/24 has 3 free from host number 252"),
    (lambda d: d.update(hosts={n: h for n, h in d["hosts"].items() if h["role"] != "client"}),
     "bad.yaml: hosts: the services need at least one client (role: client) to send requests to the VIP"),
    (lambda d: d["hosts"]["client1"].update(interfaces=[{"network": "service", "switch": "s1"}]),
     "bad.yaml: hosts.client1.interfaces: a client needs an interface on the VIP network 'internet'"),
    (lambda d: d["vip"].update(address="10.0.1.0"), "bad.yaml: vip.address: 10.0.1.0 is not a host address of 10.0.1.0/24"),
    (lambda d: d.setdefault("services", {}).update(ports={"haproxy_metrics": 443}),
     "bad.yaml: services.ports: https and haproxy_metrics are both port 443: each service needs its own"),
])
def test_meaning_the_schema_alone_misses(edit, expected):
    assert expected in broken(edit)


def test_a_bare_network_needs_no_service_roles():
    data = copy.deepcopy(DEFAULT)
    data.setdefault("services", {})["enabled"] = False
    data["hosts"] = {n: h for n, h in data["hosts"].items() if h["role"] == "client"}
    assert parse_topology(data, "bare.yaml").hosts_with_role("lb") == []


@pytest.mark.parametrize("content, expected", [
    (bytes(range(128, 256)), "not a text file (byte 0 is not UTF-8)"),
    (b"name: x\n\x00\x00", "not a text file (it holds NUL bytes)"),
])
def test_a_binary_file_is_a_clear_error(tmp_path: Path, content, expected):
    path = tmp_path / "topology.yaml"
    path.write_bytes(content)
    with pytest.raises(TopologyError, match=rf"^{path}: {expected.replace('(', '[(]').replace(')', '[)]')}"):
        load_topology(path)


def test_a_topology_nested_beyond_reason_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 5000)
    with pytest.raises(TopologyError, match=rf"^{path}: nested too deeply to be a topology$"):
        load_topology(path)


def test_just_enough_room_for_automatic_addresses_is_accepted():
    data = copy.deepcopy(DEFAULT)
    wanted = sum(1 for h in data["hosts"].values() for i in h["interfaces"]
                 if i["network"] == "internet" and "address" not in i)
    # 10.0.1.0/24 has host numbers up to 254; the VIP (.100) is below this first_host.
    data["networks"]["internet"]["first_host"] = 255 - wanted
    assert parse_topology(data, "tight.yaml")
    data["networks"]["internet"]["first_host"] = 256 - wanted
    with pytest.raises(TopologyError, match="has 3 free"):
        parse_topology(data, "tight.yaml")


def test_the_default_database_tier_is_every_server_up_to_five_then_three_over_the_switches():
    from topo.model import ALL_SERVERS_DB_UP_TO, DEFAULT_DB_NODES
    from topo.scale import scaled_topology

    assert (ALL_SERVERS_DB_UP_TO, DEFAULT_DB_NODES) == (5, 3)
    assert load_topology().database_nodes() == ["server1", "server2", "server3"]
    data = copy.deepcopy(DEFAULT)
    for n in range(4, 6):
        data["hosts"][f"server{n}"] = {"role": "server", "interfaces": [{"network": "service", "switch": "s3"}]}
    assert parse_topology(data).database_nodes() == ["server1", "server2", "server3", "server4", "server5"]
    # 48 servers, no nodes given: the primary, then one server of each switch that has none yet.
    for n in range(6, 49):
        data["hosts"][f"server{n}"] = {"role": "server", "interfaces": [{"network": "service", "switch": "s3"}]}
    data["services"] = {"mariadb": {"primary": "server2"}}
    assert parse_topology(data).database_nodes() == ["server1", "server2", "server3"]  # s3, s4 (primary), s5
    # Every server on one switch: one failure domain, so the first servers after the primary.
    for host in data["hosts"].values():
        if host["role"] == "server":
            host["interfaces"] = [{"network": "service", "switch": "s4"}]
    data["services"] = {"mariadb": {"primary": "server7"}}
    assert parse_topology(data).database_nodes() == ["server1", "server2", "server7"]
    # Given explicitly, kept as given (in file order); scaled topologies keep their base's tier.
    assert scaled_topology(load_topology(), 47, 16).database_nodes() == ["server1", "server2", "server3"]
