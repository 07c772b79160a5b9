"""The default network: up, healthy, reachable as the topology says, and robust to any one link cut."""

import pytest

from topo.model import load_topology
from hatestbed.status import health_checks
from hatestbed.testbed import Testbed

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed(tmp_path_factory):
    with Testbed.running(load_topology().without_services(), run_root=tmp_path_factory.mktemp("runs")) as testbed:
        yield testbed
    errors = testbed.controller.logged_errors()
    assert not errors, f"the controller logged errors: {errors[:3]}"


def test_every_switch_connected_and_every_check_healthy(testbed):
    assert all(testbed.switch_connections().values())
    failing = [c for c in health_checks(testbed) if not c.ok]
    assert not failing


def test_hosts_reach_exactly_the_hosts_they_share_a_network_with(testbed):
    assert testbed.ping_pairs(testbed.plan.reachable_pairs(), deadline=2) == []
    # The internet side has no route to the service network (and there is no router).
    plan = testbed.plan
    unreachable = [("client1", "server1", plan.address("server1", "service")),
                   ("client2", "monitor", plan.address("monitor", "service"))]
    assert testbed.ping_pairs(unreachable, deadline=0.5) == unreachable


def test_host_interfaces_have_tx_checksum_offload_off(testbed):
    from topo import command
    out = command.check_output(["ethtool", "-k", "server1-eth0"], testbed.net["server1"])
    assert "tx-checksumming: off" in out


@pytest.mark.parametrize("link_index", range(4))
def test_cutting_any_one_switch_link_keeps_every_host_reachable(testbed, link_index):
    link = testbed.plan.switch_links[link_index]
    testbed.net.configLinkStatus(link.a, link.b, "down")
    try:
        assert testbed.ping_pairs(testbed.plan.reachable_pairs(), deadline=5) == []
    finally:
        testbed.net.configLinkStatus(link.a, link.b, "up")
    assert testbed.ping_pairs(testbed.plan.reachable_pairs(), deadline=5) == []
