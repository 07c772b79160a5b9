"""The default network: up, healthy, reachable as the topology says, and robust to any one link cut."""

import subprocess
import time

import pytest

from topo.model import load_topology
from runtime.wait import wait_until
from hatestbed.status import health_checks
from tests.tiers import acquired

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed(provider, request):
    with acquired(provider, request, load_topology().without_services()) as testbed:
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
    from runtime import command
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


def _ping_stream(testbed, src: str, dst: str, count: int, interval: float = 0.002):
    from experiments.ping_probe import parse_replies

    ip = testbed.plan.host_interfaces(dst)[0].ip
    proc = testbed.net[src].popen(["ping", "-n", "-D", "-i", f"{interval:g}", "-c", str(count), "-W", "1", str(ip)],
                                  stdout=subprocess.PIPE, text=True)
    return proc, lambda: parse_replies(proc.communicate(timeout=60)[0])


def _link_on_path(testbed, src: str, dst: str):
    from runtime.observe import active_switch_link
    return active_switch_link(testbed, src, dst)


def test_a_ping_stream_crosses_a_cut_with_no_controller_running(testbed):
    """Fast-failover groups: the switches reroute by themselves."""
    from experiments.faults import LinkDown

    a, b = _link_on_path(testbed, "client2", "lb1")
    service = testbed.controller
    for instance in service.instances:
        instance.stop()
    assert not service.alive()
    proc, replies = _ping_stream(testbed, "client2", "lb1", count=1500)
    time.sleep(1.0)  # 500 echoes before the cut
    cut = LinkDown(testbed, a, b)
    cut.inject()
    try:
        got = replies()
    finally:
        cut.recover()
        service.start()
        wait_until(lambda: all(testbed.switch_connections().values()), 20, "every switch back in service")
    after = [r for r in got if r.t > cut.injected_at]
    assert len(after) >= 900 and max(r.seq for r in after) >= 1490  # the stream went on to its end
    assert 1500 - len(got) <= 5  # a few echoes lost at the cut, no more


def test_killing_the_master_controller_hands_over_to_the_standby(testbed):
    from experiments.faults import ControllerStop, LinkDown

    service = testbed.controller
    master = service.master()
    assert master is not None and service.redundant
    stop = ControllerStop(testbed)
    stop.inject()
    try:
        standby = next(c for c in service.instances if c is not master)
        done = wait_until(lambda: next((e for e in standby.events() if e["event"] == "takeover_complete"
                                        and e["t"] >= stop.injected_at), None), 5, "the standby's takeover")
        assert done["t"] - stop.injected_at < 1.0
        assert service.master() is standby
        assert standby.role()["switches"] == {s: "master" for s in testbed.topology.switches}
        # The new MASTER handles a link cut: it recomputes and installs paths.
        a, b = _link_on_path(testbed, "client2", "lb1")
        cut = LinkDown(testbed, a, b)
        cut.inject()
        try:
            wait_until(lambda: any(e["event"] == "flows_installed" and e.get("cause") == "link_change"
                                   and e["t"] >= cut.injected_at for e in standby.events()), 5,
                       "the new MASTER's reroute")
            assert testbed.ping_pairs(testbed.plan.reachable_pairs(), deadline=5) == []
        finally:
            cut.recover()
    finally:
        details = stop.recover()
    assert details["role"] == "standby"  # the old MASTER came back as the standby
    assert service.master() is standby
    assert testbed.ping_pairs(testbed.plan.reachable_pairs(), deadline=5) == []
