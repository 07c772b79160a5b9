"""Placement over several machines: the YAML's machines/placement → which machine runs each node,
the engine's parameters (Mininet Cluster Edition's `server=`, each crossing link's VXLAN), the
commands a tunnel end is made with, and every bad placement refused with one line, exit 2."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
import yaml

from hatestbed.check import design_notes
from runtime.cluster import LOCAL_SERVER, ClusterTopo, vxlan_commands
from runtime.machines import Machine, parse_stat_lines
from topo.model import DEFAULT_TOPOLOGY, TopologyError, load_topology, parse_topology
from topo.placement import SPLIT_MTU, VNI_BASE, describe
from topo.plan import plan_network

REPO = DEFAULT_TOPOLOGY.parents[1]
TWO = DEFAULT_TOPOLOGY.parent / "examples" / "two-machines.yaml"


def with_placement(**fields) -> dict:
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data.update(fields)
    return data


def test_no_machines_means_one_machine_as_before():
    layout = load_topology().layout
    assert not layout.split and layout.crossing == () and layout.remote_machines() == []
    assert {layout.machine_of(n) for n in ["s1", "lb1", "server3"]} == {layout.local}


def test_the_two_machine_example_puts_each_host_with_its_switches():
    layout = load_topology(TWO).layout
    assert layout.split and layout.local == "m1" and layout.remote_machines() == ["m2"]
    assert layout.nodes_on("m2") == ["s2", "s4", "client2", "lb2", "server2", "monitor"]
    # lb1 has legs on s1 and s3, both on m1; hosts never cross machines
    assert layout.machine_of("lb1") == "m1" and layout.machine_of("monitor2") == "m1"
    assert [layout.links[i] for i in layout.crossing] == [("s1", "s2"), ("s4", "s3"), ("s4", "s5")]
    assert [layout.vni(i) for i in layout.crossing] == [VNI_BASE, VNI_BASE + 2, VNI_BASE + 5]


def test_a_role_group_places_hosts_only_where_their_switches_are():
    with pytest.raises(TopologyError) as error:
        parse_topology(with_placement(machines={"m1": "local", "m2": "simulated"},
                                      placement={"s2": "m2", "s4": "m2", "lb": "m1"}), "t.yaml")
    assert str(error.value) == ("t.yaml: placement.lb: lb2 would be on m1 but its interface 0 is on switch s2, "
                                "which is on m2; a host stays on its switches' machine (only switch-to-switch "
                                "links cross machines)")


@pytest.mark.parametrize("fields, message", [
    ({"placement": {"s2": "m2"}}, "placement: it names machines, but there is no `machines:` section"),
    ({"machines": {"m1": "local", "m2": "simulated"}, "placement": {"s2": "m2"}},
     "hosts.lb2.interfaces.1: lb2 would be on m2 but its interface 1 is on switch s4, which is on m1"),
    ({"machines": {"m1": "local", "m2": "simulated"}, "placement": {"s2": "m3"}},
     "placement.s2: unknown machine 'm3' (machines: m1, m2)"),
    ({"machines": {"m1": "local", "m2": "simulated"}, "placement": {"s9": "m2"}},
     "placement.s9: not a switch, host or role (client, lb, server, monitor)"),
    ({"machines": {"m1": "simulated", "m2": "simulated"}}, "machines: exactly one machine must be `local`"),
    ({"machines": {"m1": "local", "m2": "local"}}, "machines: exactly one machine must be `local`"),
    ({"machines": {"m1": "local", "m2": "nowhere"}},
     "machines.m2: 'nowhere' is not `local`, `simulated` or an IPv4 address"),
    ({"machines": {"m1": "local", "m2": "127.0.0.1"}}, "machines.m2: 127.0.0.1 cannot be another machine's address"),
    ({"machines": {"m1": "local", "M2": "simulated"}}, "machines.M2: a machine name is a lower-case letter"),
    ({"machines": {"m1": "local", "m2": "simulated", "m3": "simulated"}, "placement": {"s2": "m2", "s4": "m2"}},
     "machines.m3: nothing is placed on it"),
    ({"machines": {"m1": "local", "m2": "simulated", "m3": "simulated"},
      "placement": {"s1": "m2", "s3": "m2", "s5": "m2", "s2": "m3", "s4": "m3"}},
     "switch_links.0: it joins m2 and m3, both simulated"),
    ({"machines": {"m1": "local", "m2": "192.0.2.7", "m3": "192.0.2.7"}, "placement": {"s2": "m2", "s4": "m3"}},
     "machines: two machines share an address"),
])
def test_a_bad_placement_is_one_line_naming_the_field(fields, message):
    with pytest.raises(TopologyError) as error:
        parse_topology(with_placement(**fields), "t.yaml")
    text = str(error.value)
    assert text.startswith(f"t.yaml: {message}") and "\n" not in text


def test_check_refuses_a_bad_placement_with_exit_2_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_placement(machines={"m1": "local", "m2": "simulated"}, placement={"s2": "m9"})))
    done = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--check", "--topology", str(bad)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"topo/run.py: error: {bad}: placement.s2: unknown machine 'm9' (machines: m1, m2)"]
    assert done.stdout == ""


def test_placement_becomes_the_engines_server_parameter_and_tunnels():
    plan = plan_network(load_topology(TWO))
    underlay = {LOCAL_SERVER: "10.250.1.1", "m2": "10.250.1.2"}
    topo = ClusterTopo(plan=plan, underlay=underlay)
    assert topo.nodeInfo("s1")["server"] == LOCAL_SERVER and topo.nodeInfo("lb1")["server"] == LOCAL_SERVER
    assert topo.nodeInfo("s4")["server"] == "m2" and topo.nodeInfo("client2")["server"] == "m2"
    crossing = topo.linkInfo("s1", "s2")
    assert crossing["vni"] == VNI_BASE and crossing["underlay"] == underlay
    assert "vni" not in topo.linkInfo("s1", "s3")  # both ends on m1: a veth pair
    assert "vni" not in topo.linkInfo("client2", "s2")  # host links never cross


def test_a_tunnel_end_is_a_vxlan_device_pointing_at_the_other_machine():
    assert vxlan_commands("s1-eth1", 4200, "10.250.1.1", "10.250.1.2") == [
        ["ip", "link", "add", "s1-eth1", "type", "vxlan", "id", "4200", "local", "10.250.1.1",
         "remote", "10.250.1.2", "dstport", "4789"],
        ["ip", "link", "set", "s1-eth1", "up"]]
    assert vxlan_commands("s2-eth1", 4200, "10.250.1.2", "10.250.1.1", mac="02:00:00:00:00:01")[0][4:6] == \
        ["address", "02:00:00:00:00:01"]


def test_check_describes_the_machines_and_the_tunnels():
    lines = describe(load_topology(TWO).layout)
    assert lines[:2] == ["machine m1 (local): s1, s3, s5, client1, lb1, server1, server3, monitor2",
                         "machine m2 (simulated): s2, s4, client2, lb2, server2, monitor"]
    assert lines[2] == (f"crossing links (VXLAN, UDP 4789; every host interface MTU {SPLIT_MTU}): "
                        "s1-s2 VNI 4200, s4-s3 VNI 4202, s4-s5 VNI 4205")
    assert describe(load_topology().layout) == []


def test_a_machine_with_switches_but_no_monitor_is_noted():
    data = yaml.safe_load(TWO.read_text())
    data["hosts"]["monitor"]["interfaces"] = [{"network": "service", "switch": "s3"}]
    notes = design_notes(parse_topology(data))
    assert [n for n in notes if n.startswith("placement:")] == [
        "placement: machine m2 has switches but no monitor: their OVS is asked only by a fabric exporter on the "
        "same machine, so they go unobserved"]
    assert not [n for n in design_notes(load_topology(TWO)) if n.startswith("placement:")]


def test_a_command_for_another_machine_is_quoted_for_its_shell():
    machine = Machine("m2", "10.250.1.2", "/x/ssh_config")
    argv = machine.argv(["sh", "-ec", "a; b 'c'"])
    assert argv[:5] == ["ssh", "-F", "/x/ssh_config", "-q", "root@10.250.1.2"]
    assert shlex.split(argv[-1]) == ["sh", "-ec", "a; b 'c'"]


def test_start_times_come_from_stat_lines_with_odd_names_and_no_zombies():
    stat = ("42 (a) b) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n"
            "43 (dead) Z 1 43 43 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 888 0 0\n")
    assert parse_stat_lines(stat) == {42: 777}


def test_a_machine_is_a_failure_domain_in_the_spof_model():
    from spof.analysis import analyze

    split = analyze(load_topology(TWO), pairs=False)
    m2 = [j for j in split.judgements if j.component == "machine:m2"]
    assert {j.service for j in m2} >= {"web", "read", "write", "monitoring"} and not any(j.predicted for j in m2)
    # Both balancers' switches on one machine: that machine takes the site down with it, as the
    # client left on m1 (client3, on s5) sees.
    data = yaml.safe_load(TWO.read_text())
    data["placement"] = {"s1": "m2", "s2": "m2", "s3": "m2", "s4": "m2"}
    data["hosts"]["client3"] = {"role": "client", "interfaces": [{"network": "internet", "switch": "s5"}]}
    crowded = analyze(parse_topology(data), pairs=False)
    web = next(j for j in crowded.judgements if j.component == "machine:m2" and j.service == "web")
    assert web.predicted and "lb1 is down" in web.reason and "lb2 is down" in web.reason


def test_a_placement_with_every_client_on_one_machine_is_noted():
    data = yaml.safe_load(TWO.read_text())
    data["placement"] = {"s1": "m2", "s2": "m2", "s3": "m2", "s4": "m2"}
    notes = [n for n in design_notes(parse_topology(data)) if "every client" in n]
    assert notes == ["placement: every client is on machine m2: when it fails nobody is left to reach the site, so "
                     "machine:m2 cannot be judged (the SPOF analysis and the sweep need a client elsewhere)"]
