"""Every fault of experiments/faults/ on the full stack: injected, observed, recovered.

The session's default testbed (tests/integration/conftest.py). Every test recovers its fault in
`finally` and checks the site is whole again.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from experiments.faults import ControllerStop, DaemonKill, LinkDown, NodeCrash, Partition, ProcessCrash
from tests.tiers import acquired
from hosts.client import https_request
from runtime import command
from topo.model import load_topology
from runtime.observe import active_path, active_switch_link, vip_holders
from runtime.wait import wait_until

pytestmark = pytest.mark.root

@pytest.fixture(scope="module")
def testbed(provider, request):
    with acquired(provider, request, load_topology()) as testbed:
        yield testbed


def https_ok(testbed, client="client1", timeout=2.0) -> bool:
    return https_request(testbed.net[client], testbed.site, "/", timeout=timeout).ok


def haproxy_agrees(testbed, server: str, state: str) -> bool:
    return all(testbed.services.find(lb, "haproxy").server_states().get(server) == state
               for lb in testbed.site.lbs)


def ping(testbed, src: str, dst: str, wait: float = 1.0) -> bool:
    ip = testbed.site.ip(dst)
    return command.run(["ping", "-n", "-q", "-c1", f"-W{wait:g}", ip], testbed.net[src], check=False).ok


def whole_again(testbed) -> None:
    """The steady state every test leaves behind."""
    wait_until(lambda: len(vip_holders(testbed)) == 1, 10, "exactly one VIP holder")
    for server in testbed.site.active_servers:
        wait_until(lambda: haproxy_agrees(testbed, server, "UP"), 15, f"{server} UP on every balancer")
    wait_until(lambda: https_ok(testbed), 10, "HTTPS through the VIP")


def test_node_crash_of_a_server_takes_it_out_and_back_into_rotation(testbed):
    wait_until(lambda: haproxy_agrees(testbed, "server1", "UP"), 15, "server1 UP on every balancer")
    fault = NodeCrash(testbed, "server1")
    try:
        details = fault.inject()
        killed = {k["daemon"] for k in details["killed"]}
        assert {"server1-mariadb", "server1-app", "server1-nginx"} <= killed
        assert all(k["exited"] and k["returncode"] == -9 for k in details["killed"])
        # The controller saw the host's switch port lose carrier.
        assert all(t is not None for t in details["controller_port_down"].values())
        # Powered off: the links went down before any daemon died, so no reset left the host.
        assert all(k["killed_at"] >= details["links_down_at"] for k in details["killed"])
        wait_until(lambda: haproxy_agrees(testbed, "server1", "DOWN"), 10, "HAProxy marking server1 DOWN")
        served = [https_request(testbed.net["client1"], testbed.site, "/") for _ in range(6)]
        assert all(r.ok for r in served) and {r.served_by for r in served} == {"server2"}
    finally:
        recovered = fault.recover()
    json.dumps([details, recovered])  # journal-ready
    # Every balancer's check met silence (a timeout), never a refused connection.
    reasons = down_reasons(testbed, "server1", details["injected_at"])
    assert reasons and all("timeout" in r and "refused" not in r for r in reasons), reasons
    assert [r["daemon"] for r in recovered["restarted"]][0] == "server1-mariadb"  # stage order
    assert all(t is not None for t in recovered["controller_port_up"].values())
    wait_until(lambda: haproxy_agrees(testbed, "server1", "UP"), 15, "HAProxy marking server1 UP again")
    assert "server1" in {https_request(testbed.net["client1"], testbed.site, "/").served_by for _ in range(6)}
    # Idempotent: a second recovery restarts nothing.
    assert all(r.get("already_running") for r in fault.recover()["restarted"])
    whole_again(testbed)


def down_reasons(testbed, server: str, since: float) -> list[str]:
    """Why each balancer marked `server` DOWN: the reasons of its failed health checks from
    `since` to its first "is DOWN" line (HAProxy's own words, e.g. "Layer4 timeout")."""
    reasons = []
    for lb in testbed.site.lbs:
        haproxy = testbed.services.find(lb, "haproxy")
        down = next(c.time for c in haproxy.state_changes() if c.server == server and c.state == "DOWN" and c.time >= since)
        reasons += [f.reason for f in haproxy.check_failures() if f.server == server and since <= f.time <= down]
    return reasons


def test_a_process_crash_leaves_the_kernel_refusing_connections(testbed):
    wait_until(lambda: haproxy_agrees(testbed, "server2", "UP"), 15, "server2 UP on every balancer")
    fault = ProcessCrash(testbed, "server2")
    try:
        details = fault.inject()
        assert details["address"] == "processes:server2" and details["interfaces_down"] == []
        assert {"server2-mariadb", "server2-app", "server2-nginx"} <= {k["daemon"] for k in details["killed"]}
        wait_until(lambda: haproxy_agrees(testbed, "server2", "DOWN"), 10, "HAProxy marking server2 DOWN")
    finally:
        fault.recover()
    # The host's kernel lived on: the balancers' checks were refused (or a check in flight was
    # closed on: an empty response), never met by silence.
    reasons = down_reasons(testbed, "server2", details["injected_at"])
    assert any("refused" in r for r in reasons) and not any("timeout" in r for r in reasons), reasons
    wait_until(lambda: haproxy_agrees(testbed, "server2", "UP"), 15, "HAProxy marking server2 UP again")
    whole_again(testbed)


def test_daemon_kill_of_the_vip_holders_keepalived_moves_the_vip(testbed):
    [holder] = vip_holders(testbed)
    [survivor] = [lb for lb in testbed.site.lbs if lb != holder]
    fault = DaemonKill(testbed, holder, "keepalived")
    try:
        details = fault.inject()
        assert details["exited"] and details["signal"] == "SIGKILL"
        keepalived = testbed.services.find(survivor, "keepalived")
        wait_until(lambda: keepalived.has_vip(testbed.net[survivor]), 5, f"the VIP moving to {survivor}")
        wait_until(lambda: https_ok(testbed), 5, "HTTPS through the VIP after the move")
    finally:
        recovered = fault.recover()
    assert recovered["action"] == "restart" and recovered["pid"] != details["pid"]
    whole_again(testbed)
    assert vip_holders(testbed) == [survivor]  # no preemption: the VIP stays where it went


def test_link_down_on_the_active_path_reroutes(testbed):
    a, b = active_switch_link(testbed, "client1", "client2")
    fault = LinkDown(testbed, a, b)
    try:
        details = fault.inject()
        assert all(t is not None for t in details["controller_port_down"].values())
        assert len(details["controller_port_down"]) == 2
        wait_until(lambda: ping(testbed, "client1", "client2"), 5, "client1 reaching client2 around the cut")
        hops = [(h["switch"], h["next"]) for h in active_path(testbed, "client1", "client2")]
        assert (a, b) not in hops and len(hops) > 2
        wait_until(lambda: https_ok(testbed, "client2"), 5, "HTTPS from client2 after the cut")
    finally:
        recovered = fault.recover()
    assert all(t is not None for t in recovered["controller_port_up"].values())
    live = testbed.controller.request({"op": "status"})["live_links"]
    assert len(live) == len(testbed.topology.switch_links)
    wait_until(lambda: ping(testbed, "client1", "client2"), 5, "client1 reaching client2 after the repair")


def test_partition_cuts_client1_off_the_balancers_and_heals(testbed):
    fault = Partition(testbed, ["client1"], testbed.site.lbs)
    try:
        details = fault.inject()
        assert details["switches"] == testbed.topology.switches and details["lost_switches"] == []
        assert details["t_installed"] >= details["injected_at"]
        assert not https_ok(testbed, timeout=1.5)
        assert not ping(testbed, "client1", "lb1")
        assert ping(testbed, "client1", "client2")  # the rest of the network is untouched
        assert https_ok(testbed, "client2")
        status = testbed.controller.request({"op": "status"})
        assert list(status["partitions"]) == [fault.name]
        events = [e["event"] for e in testbed.controller.events()]
        assert "partition_installed" in events
    finally:
        healed = fault.recover()
    json.dumps([details, healed])
    assert healed["removed"] is True
    wait_until(lambda: https_ok(testbed), 5, "client1 reaching the VIP again after the heal")
    assert fault.recover()["removed"] is False  # idempotent
    assert testbed.controller.request({"op": "status"})["partitions"] == {}


def test_controller_stop_keeps_forwarding_and_all_switches_reconnect(testbed):
    count = 400  # a 10 ms ping stream across the stop and the restart (~4 s), bounded
    stream = testbed.net["client1"].popen(
        ["ping", "-n", "-q", "-i0.01", f"-c{count}", "-W1", testbed.site.ip("client2")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    fault = ControllerStop(testbed)
    master = testbed.controller.master()
    try:
        details = fault.inject()
        assert details["returncode"] == 0 and details["instance"] == master.name and not master.alive()
        assert details["flows_after"] == details["flows_before"]  # fail-secure: every flow stays
        # The standby claims MASTER and adopts every switch; status counts only running instances.
        wait_until(lambda: all(testbed.switch_connections().values()), 5, "the standby in charge of every switch")
        assert testbed.controller.master() is not master
        assert https_ok(testbed)
        assert ping(testbed, "client2", "lb2")
    finally:
        recovered = fault.recover()
        out, _ = stream.communicate(timeout=60)
    json.dumps([details, recovered])
    assert recovered["instance"] == master.name and recovered["role"] == "standby"
    assert all(testbed.switch_connections().values())
    received = int(out.split(" received")[0].rsplit(",", 1)[-1])
    assert received >= count * 0.95, out
    whole_again(testbed)
    assert testbed.controller.logged_errors() == []
