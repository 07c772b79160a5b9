"""Two machines, one of them simulated on this VM (runtime/simmachine.py), joined by VXLAN: the
network of topo/examples/two-machines.yaml with no daemons, from the shared provider.

    m1: client1 ─ s1 ═══ VXLAN 4200 ═══ s2 ─ client2 :m2      ping, and 1400 bytes unfragmented
"""

import pytest
import yaml

from runtime import command
from runtime.runstate import list_bridges
from topo.model import DEFAULT_TOPOLOGY, parse_topology
from topo.placement import SPLIT_MTU
from tests.tiers import acquired

pytestmark = pytest.mark.root

TWO = DEFAULT_TOPOLOGY.parent / "examples" / "two-machines.yaml"


@pytest.fixture(scope="module")
def split(provider, request):
    data = yaml.safe_load(TWO.read_text())
    data["services"] = {"enabled": False}
    with acquired(provider, request, parse_topology(data, str(TWO))) as testbed:
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
