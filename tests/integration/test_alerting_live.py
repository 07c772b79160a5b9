"""The monitoring tier live: with one Prometheus or one Alertmanager gone, a crashed server is
still alerted, and the alert is delivered once, to the receiver inside the testbed; the fabric
is seen from both monitors (a stopped controller raises its alert)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from experiments.faults import parse, recover_side_by_side
from tests.tiers import acquired
from hosts.alert_receiver import deliveries, journal_path
from topo.model import load_topology
from runtime.wait import wait_until

pytestmark = pytest.mark.root

# After the first delivery, how long a duplicate could still come: the second Alertmanager sends
# only after its peer-timeout (2 s) if it found no entry in the gossiped notification log.
DUPLICATE_WINDOW_S = 6.0


@pytest.fixture(scope="module")
def testbed(provider, request):
    with acquired(provider, request, load_topology()) as testbed:
        for monitor in testbed.site.monitors:  # every target scraped once: InstanceDown can fire
            testbed.services.find(monitor, "prometheus").wait_targets_up(testbed.net[monitor])
        yield testbed


def firing(testbed, alertname: str, instance: str, since: float) -> Counter:
    """Deliveries of each firing alert (by fingerprint) recorded since `since`."""
    return Counter(r["fingerprint"] for r in deliveries(journal_path(testbed.site))
                   if r["t"] >= since and r["status"] == "firing" and r["alertname"] == alertname
                   and r["instance"] == instance)


def crash_with_one_replica_part_gone(testbed, gone: str, crashed: str) -> tuple[Counter, dict]:
    """Kill `gone`, crash `crashed`, wait for its InstanceDown to be delivered, then for any
    duplicate; recover both. (deliveries by fingerprint, who recorded them)."""
    for monitor in testbed.site.monitors:  # a replica restarted by an earlier test scrapes again
        testbed.services.find(monitor, "prometheus").wait_targets_up(testbed.net[monitor])
    began = time.time()
    part, host = parse(gone, testbed), parse(f"node:{crashed}", testbed)
    injected = []
    try:
        for fault in (part, host):
            fault.inject()
            injected.append(fault)
        wait_until(lambda: firing(testbed, "InstanceDown", crashed, began), 40,
                   f"InstanceDown for {crashed} delivered with {gone}")
        time.sleep(DUPLICATE_WINDOW_S)
        seen = firing(testbed, "InstanceDown", crashed, began)
        recorders = {r["recorder"] for r in deliveries(journal_path(testbed.site))
                     if r["t"] >= began and r["instance"] == crashed}
    finally:
        # Side by side: the server's Galera rejoin and the monitoring daemon's restart (with
        # its own settle) wait on different things. Each runs to its end; the first error is raised.
        failed = [error for _result, error in recover_side_by_side(injected) if error]
        if failed:
            raise failed[0]
    return seen, {"recorders": recorders}


def test_one_alertmanager_killed_a_crashed_server_is_alerted_once(testbed):
    seen, where = crash_with_one_replica_part_gone(testbed, "daemon:alertmanager@monitor2", "server2")
    assert seen and set(seen.values()) == {1}, seen
    assert where["recorders"] == {"monitor"}  # the surviving Alertmanager delivered, to its recorder


def test_a_stopped_controller_is_seen_from_both_monitors(testbed):
    """The MASTER controller stopped: the standby claims MASTER, and both fabric exporters say so;
    the stopped one is alerted as ControllerDown. (Which instance is MASTER depends on what ran
    before on this testbed: a standby that took over keeps the role.)"""
    master = testbed.controller.master().name
    [standby] = [c.name for c in testbed.controller.instances if c.name != master]
    fault = parse("controller", testbed)
    fault.inject()
    try:
        for monitor in testbed.site.monitors:
            prometheus = testbed.services.find(monitor, "prometheus")
            node = testbed.net[monitor]

            def standby_is_master():
                masters = prometheus.query(node, "hatestbed_controller_master == 1")
                return {m["metric"]["controller"] for m in masters} == {standby}

            wait_until(standby_is_master, 20, f"{standby} MASTER in {monitor}'s Prometheus")
            wait_until(lambda: any(a["labels"].get("alertname") == "ControllerDown"
                                   and a["labels"].get("controller") == master
                                   for a in prometheus.alerts(node)), 20, f"ControllerDown on {monitor}")
    finally:
        fault.recover()


def test_one_prometheus_killed_a_crashed_server_is_alerted_once(testbed):
    # Last in the module: the killed Prometheus, restarted, scrapes nothing for its first ~5 s
    # (its discovery manager's fixed delay), which a test after it would wait out. Another server
    # than the Alertmanager test's: an alert that fires again with the same labels before its
    # resolution was notified is, to the Alertmanagers, the same alert still firing.
    seen, where = crash_with_one_replica_part_gone(testbed, "daemon:prometheus@monitor", "server3")
    assert seen and set(seen.values()) == {1}, seen  # node and mysqld jobs: one alert each, once
    assert len(seen) == 2
