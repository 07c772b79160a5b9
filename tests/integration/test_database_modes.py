"""Each database mode for real: it comes up healthy with its state in `status`, a write shows up
on every node, and killing the writer's mariadbd with a plain signal, outside any experiment,
leaves writes through the VIP working again with no help from test code (and, in the replication
modes, the old primary coming back is fenced read-only by the manager; in Galera it rejoins).

Galera goes last and is handed back clean: test_database_studies.py starts on it."""

import json
import os
import signal

import pytest

from topo.profiles import with_timers
from hatestbed.status import service_checks
from tests.tiers import acquired
from hosts.client import https_request
from topo.model import load_topology
from runtime.wait import wait_until

pytestmark = [pytest.mark.root, pytest.mark.studies]


def CHANGES_THE_SITE(testbed) -> bool:
    """The last test of each mode kills the writer: a replication mode's testbed is handed back
    dirty (a promoted replica, a fenced old primary); Galera's killed node has rejoined."""
    return testbed.site.db_mode != "galera"


@pytest.fixture(scope="module", params=["async", "semisync", "galera"])
def testbed(request, provider):
    with acquired(provider, request, with_timers(load_topology(), request.param)) as testbed:
        yield testbed


def write(testbed) -> int | None:
    response = https_request(testbed.net["client1"], testbed.site, "/write", method="POST")
    return json.loads(response.body)["id"] if response.ok else None


def test_mode_is_healthy_and_status_shows_the_cluster_or_replication(testbed):
    assert not [c for c in service_checks(testbed) if not c.ok]
    texts = {s: testbed.services.find(s, "mariadb").status(testbed.net[s]) for s in testbed.site.servers}
    if testbed.site.db_mode == "galera":
        assert all(t.startswith("galera Synced, ready, Primary component of 3") for t in texts.values()), texts
    else:
        assert texts["server1"].startswith("primary, 2 replicas connected"), texts
        assert all(texts[s].startswith("replica of server1, IO/SQL running") for s in ("server2", "server3"))
        manager = testbed.services.find("monitor", "failover")
        assert testbed.services.running(manager) and manager.status(None).startswith("watching, primary server1")
        if testbed.site.db_mode == "semisync":
            assert texts["server1"].endswith("semisync ON")


def test_a_write_shows_up_on_every_node(testbed):
    new_id = write(testbed)
    assert new_id
    for server in testbed.site.servers:
        mariadb = testbed.services.find(server, "mariadb")
        wait_until(lambda: mariadb.sql(testbed.net[server], f"SELECT id FROM hatestbed.entries WHERE id = {new_id}"),
                   5, f"write {new_id} on {server}")


def test_killing_the_writer_outside_any_experiment_leaves_writes_working(testbed):
    """Runs last in the module: the killed node stays down."""
    mariadb = testbed.services.find(testbed.site.primary_db, "mariadb")
    os.kill(testbed.services.pid(mariadb), signal.SIGKILL)
    wait_until(lambda: all(write(testbed) for _ in range(5)), 30, "five writes in a row through the VIP")
    if testbed.site.db_mode == "galera":
        # The node restarted rejoins the Primary component (restart_daemon waits for Synced):
        # the site is whole again for the next module.
        testbed.services.restart_daemon(mariadb, testbed.net)
        wait_until(lambda: not [c for c in service_checks(testbed) if not c.ok], 20, "every service check ok again")
        return
    journal = testbed.site.run_path / "logs" / "db-failover.jsonl"

    def events():
        return [json.loads(line) for line in journal.read_text().splitlines()]
    assert {"primary_lost", "apps_switched"} <= {e["event"] for e in events()}
    # The old primary returns as its my.cnf says (writable): the manager fences it read-only.
    testbed.services.restart_daemon(mariadb, testbed.net)
    wait_until(lambda: any(e["event"] == "fenced" and e["server"] == "server1" for e in events()), 10,
               "the manager fencing the returned old primary")
    assert mariadb.replication_state(testbed.net["server1"])["read_only"] is True
