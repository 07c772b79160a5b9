"""Two machines, one of them simulated on this VM (runtime/simmachine.py), joined by VXLAN: the
site of topo/examples/two-machines.yaml from the shared provider: --smoke healthy, then
machine:m2 in the SPOF sweep, prediction beside observation.

    m1: client1 ─ s1 ═══ VXLAN 4200 ═══ s2 ─ client2 :m2      ping, and 1400 bytes unfragmented
"""

import json

import pytest

from runtime import command
from runtime.runstate import list_bridges
from topo.model import DEFAULT_TOPOLOGY, load_topology
from topo.placement import SPLIT_MTU
from tests.tiers import acquired

pytestmark = pytest.mark.root

TWO = DEFAULT_TOPOLOGY.parent / "examples" / "two-machines.yaml"
SWEEP = ["--experiment", "spof_sweep", "--faults", "machine:m2", "--trials", "1", "--topology", str(TWO)]


@pytest.fixture
def split(provider, request):
    with acquired(provider, request, load_topology(TWO)) as testbed:
        yield testbed


def test_client2_runs_on_the_other_machine(split):
    m2 = split.machines["m2"]
    assert split.net["client2"].machine == m2
    assert command.check_output(["hostname"], split.net["client2"]).strip() == "m2"
    assert command.check_output(["hostname"], split.net["client1"]).strip() != "m2"
    # Its own PID namespace (sshd is its init) and its own Open vSwitch, holding m2's bridges only.
    assert m2.run(["cat", "/proc/1/comm"]).stdout.strip() == "sshd"
    assert m2.run(["ovs-vsctl", "list-br"]).stdout.split() == ["s2", "s4"]
    assert {"s1", "s3", "s5"} <= set(list_bridges()) and not {"s2", "s4"} & set(list_bridges())


def test_a_crossing_link_is_a_vxlan_tunnel_at_both_ends(split):
    here = command.check_output(["ip", "-d", "link", "show", "s1-eth1"])
    there = split.machines["m2"].run(["ip", "-d", "link", "show", "s2-eth1"]).stdout
    for text in (here, there):
        assert "vxlan id 4200" in text and "dstport 4789" in text


def test_a_ping_and_a_1400_byte_unfragmented_ping_cross_machines(split):
    client1, target = split.net["client1"], str(split.plan.address("client2", "internet"))
    small = command.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", target], client1, check=False)
    assert small.rc == 0 and " 0% packet loss" in small.stdout, small.stdout
    big = command.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1400", target], client1,
                      check=False)
    assert big.rc == 0 and "1408 bytes from" in big.stdout and " 0% packet loss" in big.stdout, big.stdout
    # The MTU holds: a frame too big for the tunnel is refused at the sender, not lost inside it.
    too_big = command.run(["ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", target], client1, check=False)
    assert too_big.rc != 0 and f"mtu={SPLIT_MTU}" in too_big.stderr, too_big.stderr


def test_smoke_is_healthy_on_two_machines(topo_run):
    ran = topo_run(["--smoke", "--topology", str(TWO)])
    assert ran.code == 0, ran.printed[-3000:]
    assert "smoke: healthy" in ran.printed
    rows = {tuple(line.split()[:2]) for line in ran.printed.splitlines() if line.strip()}
    # m2's daemons answered from there: its balancer is the VRRP backup, its server serves via the VIP.
    assert ("lb2", "keepalived") in rows and ("server2", "mariadb") in rows and ("monitor", "prometheus") in rows
    assert "from server2" in ran.printed and "held by lb1" in ran.printed


def test_losing_machine_m2_is_predicted_and_observed_alike(topo_run):
    ran = topo_run(SWEEP)
    assert ran.code == 0, ran.printed[-3000:]
    summary = json.loads((ran.folder("spof_sweep") / "summary.json").read_text())
    [trial] = summary["trials"]["tuned"]
    assert trial["faults"] == ["machine:m2"] and trial["status"] == "passed", trial
    assert trial["disagreements"] == [] and trial["observed_down"] == trial["predicted_down"] == []
    for service in ("web", "read", "write"):
        judged = trial["services"][service]["clients"]
        assert judged["client2"] == {"excused": True}  # it was on m2: its own loss is not held against the site
        assert judged["client1"]["ok_judged"] > 0 and not judged["client1"]["down_at_end"]
    monitoring = trial["services"]["monitoring"]
    assert monitoring["working_replicas"] == ["monitor2"]  # the monitor on m2 went with it
    text = json.dumps(summary)
    assert '"kind": "machine_crash"' in text and "lb2-keepalived" in text
