"""The whole design running for real: HTTPS through the VIP, round robin, backup server, VIP
failover on a dead HAProxy, replication of writes, firewall exposure, TLS-only back end, monitoring.

The session's default testbed (tests/integration/conftest.py); tests that break something restore
it before they end.
"""

import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hosts.client import https_request
from runtime import command
from topo.model import load_topology
from hatestbed.status import service_checks
from runtime.observe import guard_drops, vip_holders
from tests.tiers import acquired
from runtime.controller import instance_names
from runtime.wait import wait_until

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed(provider, request):
    with acquired(provider, request, load_topology()) as testbed:
        yield testbed


def served_by(testbed, count, client="client1"):
    node = testbed.net[client]
    return [https_request(node, testbed.site, "/").served_by for _ in range(count)]


def haproxy_agrees(testbed, expected: dict[str, str]) -> bool:
    for lb in testbed.site.lbs:
        states = testbed.services.find(lb, "haproxy").server_states(testbed.net[lb])
        if any(states.get(server) != state for server, state in expected.items()):
            return False
    return True


def test_every_daemon_ready_and_https_through_the_vip_verifies(testbed):
    failing = [c for c in service_checks(testbed) if not c.ok]
    assert not failing
    response = https_request(testbed.net["client1"], testbed.site, "/")
    assert response.ok and response.served_by in ("server1", "server2")


def test_a_balancer_answers_arp_only_on_the_leg_that_owns_the_address(testbed):
    """No ARP flux (runtime/network.py): both networks share the fabric's broadcast domain, and asked
    for lb1's service address, only lb1's service leg answers. Its internet leg's answer would be
    dropped and counted by the edge guard of lb1's front port (it claims an address not its own)."""
    front, back = (i for i in sorted(testbed.plan.host_interfaces("lb1"),
                                     key=lambda i: i.network != testbed.site.vip_network))
    before = guard_drops(front.switch).get(front.switch_port, 0)
    result = command.run(["arping", "-c", "3", "-i", "server2-eth0", str(back.ip)], testbed.net["server2"],
                         check=False, timeout=15)
    assert back.mac in result.stdout.lower(), result.stdout
    assert front.mac not in result.stdout.lower(), result.stdout
    assert guard_drops(front.switch).get(front.switch_port, 0) == before


def test_round_robin_alternates_active_servers_and_skips_the_backup(testbed):
    """With the agent on, weights follow each server's mean free workers (95 against 97 makes
    weighted round robin repeat a server now and then: CI saw it), so both actives serve and the
    backup never does. With the agent off, the weights are equal and round robin strictly alternates
    (the round_robin experiment counts the same way)."""
    assert set(served_by(testbed, 20)) == {"server1", "server2"}
    balancers = [testbed.services.find(lb, "haproxy") for lb in testbed.site.lbs]
    try:
        for haproxy in balancers:
            haproxy.set_agent_checks(testbed.site.servers, False)
        weights = {lb.host: lb.server_weights() for lb in balancers}
        sequence = served_by(testbed, 20)
    finally:
        for haproxy in balancers:
            haproxy.set_agent_checks(testbed.site.servers, True)
    assert set(sequence) == {"server1", "server2"}, sequence
    assert all(a != b for a, b in zip(sequence, sequence[1:])), (sequence, weights)


def test_backup_server_takes_traffic_only_when_both_actives_are_down(testbed):
    manager = testbed.services
    actives = [manager.find(s, "nginx") for s in ("server1", "server2")]
    try:
        for nginx in actives:
            manager.stop_daemon(nginx)
        wait_until(lambda: haproxy_agrees(testbed, {"server1": "DOWN", "server2": "DOWN"}), 10,
                   "HAProxy marking server1 and server2 DOWN")
        assert set(served_by(testbed, 6)) == {"server3"}
    finally:
        for nginx in actives:
            manager.restart_daemon(nginx, testbed.net)
        wait_until(lambda: haproxy_agrees(testbed, {"server1": "UP", "server2": "UP"}), 10,
                   "HAProxy marking server1 and server2 UP again")
    assert "server3" not in served_by(testbed, 6)


def test_dead_haproxy_on_the_vip_holder_moves_the_vip(testbed):
    manager = testbed.services
    [holder] = vip_holders(testbed)
    haproxy = manager.find(holder, "haproxy")
    os.kill(manager.pid(haproxy), signal.SIGKILL)
    try:
        wait_until(lambda: vip_holders(testbed) not in ([], [holder]), 5, "the VIP moving off " + holder)
        [survivor] = vip_holders(testbed)
        assert survivor != holder
        wait_until(lambda: https_request(testbed.net["client1"], testbed.site, "/").ok, 5,
                   "HTTPS through the VIP after failover")
        events = [json.loads(line) for line in testbed.site.vrrp_events.read_text().splitlines()]
        assert any(e["host"] == survivor and e["state"] == "MASTER" for e in events)
    finally:
        manager.restart_daemon(haproxy, testbed.net)


def test_a_balancer_whose_haproxy_has_no_server_up_gives_the_vip_away(testbed):
    """services.keepalived.track_servers: every server of the holder's HAProxy put in maintenance
    (its process alive, its legs up) fails keepalived's second track script: FAULT, and the other
    balancer takes the VIP and serves. Without it the holder kept the VIP and served nothing."""
    manager, site = testbed.services, testbed.site
    [holder] = vip_holders(testbed)
    haproxy = manager.find(holder, "haproxy")
    since = time.time()
    try:
        for server in site.servers:
            haproxy.ask(f"disable server servers/{server}")
        wait_until(lambda: vip_holders(testbed) not in ([], [holder]), 5, "the VIP moving off " + holder)
        [survivor] = vip_holders(testbed)
        wait_until(lambda: https_request(testbed.net["client1"], site, "/").ok, 5, "HTTPS through the VIP")
        events = [json.loads(line) for line in site.vrrp_events.read_text().splitlines()]
        assert any(e["host"] == holder and e["state"] == "FAULT" and e["t"] >= since for e in events)
        assert any(e["host"] == survivor and e["state"] == "MASTER" and e["t"] >= since for e in events)
    finally:
        for server in site.servers:
            haproxy.ask(f"enable server servers/{server}")

    def holder_is_backup_again() -> bool:
        events = [json.loads(line) for line in site.vrrp_events.read_text().splitlines()]
        mine = [e for e in events if e["host"] == holder and e["t"] >= since]
        return bool(mine) and mine[-1]["state"] == "BACKUP"
    wait_until(holder_is_backup_again, 10, f"{holder} back to BACKUP once its servers are UP")


def test_a_write_through_the_app_reaches_every_replica(testbed):
    site = testbed.site
    response = https_request(testbed.net["client1"], site, "/write", method="POST")
    assert response.ok, response
    new_id = json.loads(response.body)["id"]
    for replica in [s for s in site.servers if s != site.primary_db]:
        def seen():
            read = https_request(testbed.net[site.lbs[0]], site, "/read", address=site.backend_ip(replica))
            return read.ok and json.loads(read.body)["last_id"] >= new_id
        wait_until(seen, 5, f"write {new_id} replicated to {replica}")


def scan(testbed, source, target, ports):
    """SYN scan at a fixed minimum rate: ports a firewall drops give no answer, and nmap's adaptive
    timing would otherwise crawl through them. 5000 probes/s: each full scan 4.3 s instead of
    10 s at 2000, and 32 of 32 scans (five side by side) found exactly their open ports on the
    first try (2026-12-05). A scan that did not finish is an error, never an empty result."""
    out = command.check_output(["nmap", "-n", "-Pn", "-sS", "-T5", "--max-retries", "1", "--min-rate", "5000",
                                "-p", ports, "-oG", "-", target], testbed.net[source], timeout=120)
    assert "Status: Timeout" not in out and "# Nmap done" in out, out
    return {int(p) for p in re.findall(r"(\d+)/open/tcp", out)}


def open_ports(testbed, source, target, ports="1-10000", expected=frozenset()):
    """Ports found open. A lost probe can hide an open port but never invent one, so a scan that
    found only part of what was expected is repeated (at most twice more) before it counts."""
    found = scan(testbed, source, target, ports)
    for _ in range(2):
        if found >= expected or not found <= expected:
            break
        found |= scan(testbed, source, target, ",".join(str(p) for p in sorted(expected - found)))
    return found


def scans(testbed, wanted: list[tuple]) -> list[set[int]]:
    """open_ports() for each (source, target, ports, expected), side by side: each scan spends
    most of its time waiting for answers that a firewall's drops never send."""
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        return list(pool.map(lambda w: open_ports(testbed, w[0], w[1], w[2], expected=w[3]), wanted))


def test_internet_side_sees_only_the_web_ports_of_the_vip(testbed):
    site = testbed.site
    web = {site.services.ports.http, site.services.ports.https}
    # the VIP shows the web ports; the balancers' own front addresses expose nothing
    found = scans(testbed, [("client1", site.vip, "1-10000", web)]
                  + [("client1", site.ip(lb, site.vip_network), "1-10000", frozenset()) for lb in site.lbs])
    assert found == [web] + [set() for _ in site.lbs]


def test_service_ports_are_reachable_only_from_where_the_policy_says(testbed):
    site = testbed.site
    ports = site.services.ports
    server1 = site.backend_ip("server1")
    database = {ports.mariadb}
    balancing = {ports.https, ports.agent}
    exporters = {ports.node_exporter, ports.mysqld_exporter}
    # One scan per source (two nmaps between the same pair could take each other's answers); the
    # full scans from lb1 and the monitor find exactly their ports, so not the database's.
    wanted = [("server2", server1, str(ports.mariadb), database),
              ("lb1", server1, "1-10000", balancing),
              ("monitor", server1, "1-10000", exporters)]
    assert scans(testbed, wanted) == [expected for *_, expected in wanted]


def test_load_balancer_to_server_traffic_is_tls_only(testbed):
    site = testbed.site
    node = testbed.net["server1"]
    intf = site.interface("server1", site.backend_network)
    capture = node.popen(["tcpdump", "--immediate-mode", "-l", "-i", intf, "-n", "-A", "-s", "0", "-c", "400",
                          "tcp", "port", str(site.services.ports.https)],
                         text=True)
    while "listening on" not in capture.stderr.readline():  # tcpdump is capturing from here on
        assert capture.poll() is None, "tcpdump exited"
    responses = served_by(testbed, 10)
    assert "server1" in responses
    capture.send_signal(signal.SIGINT)
    out, _ = capture.communicate(timeout=10)
    assert "Flags [P.]" in out  # data was captured
    for plaintext in ("GET / HTTP", "HTTP/1.1 200", "X-Served-By"):
        assert plaintext not in out


def test_every_prometheus_replica_sees_every_target_up(testbed):
    """Two replicas, each scraping every target: every exporter, the fabric exporters and each other."""
    monitors = testbed.site.monitors
    assert monitors == ["monitor", "monitor2"]
    for monitor in monitors:
        prometheus = testbed.services.find(monitor, "prometheus")

        def all_up():
            up, total = prometheus.targets_up(testbed.net[monitor])
            return total > 0 and up == total

        wait_until(all_up, 20, f"every target up on {monitor}'s Prometheus")
        instances = {(t["job"], t["instance"]) for t in prometheus.targets(testbed.net[monitor])}
        assert {("fabric", "monitor"), ("fabric", "monitor2"), ("node", "monitor2"), ("node", "monitor")} <= instances
        masters = prometheus.query(testbed.net[monitor], "hatestbed_controller_master == 1")
        # One master, whichever: a module before may have stopped the first (controller_failure),
        # and the standby that took over keeps the role. Seen by both fabric exporters.
        assert len({m["metric"]["controller"] for m in masters}) == 1, masters
        assert {m["metric"]["controller"] for m in masters} <= set(instance_names(testbed.topology.controller.instances))
        assert {m["metric"]["instance"] for m in masters} == {"monitor", "monitor2"}
        switches = prometheus.query(testbed.net[monitor], "hatestbed_switch_up == 1")
        assert {s["metric"]["switch"] for s in switches} == set(testbed.topology.switches)
