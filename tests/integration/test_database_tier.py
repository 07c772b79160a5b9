"""A database tier smaller than the server tier, for real: the default topology grown to five
servers (topo/scale.py) keeps its three Galera nodes (server1-3); server4 and server5 run no
MariaDB and their apps use the nodes over the network (hosts/site.py db_route).

    server4 app ──TCP──▶ its route's first node that serves (Galera: in the Primary component)
                 └─ the next one when that node dies; none left: /health fails, HAProxy takes it out
"""

import json
import os
import signal

import pytest

from hatestbed.status import service_checks
from tests.tiers import acquired
from runtime import command
from topo.model import load_topology
from runtime.observe import vip_holders
from topo.scale import scaled_topology
from runtime.wait import wait_until

pytestmark = pytest.mark.root

NODELESS = "server4"


@pytest.fixture(scope="module")
def testbed(provider, request):
    topology = scaled_topology(load_topology(), active_servers=4, clients=2)
    assert topology.services.mariadb.nodes == ["server1", "server2", "server3"]
    with acquired(provider, request, topology) as testbed:
        yield testbed


def app_get(testbed, server: str, path: str, method: str = "GET") -> tuple[int, str]:
    """(HTTP status, body) from `server`'s app itself (gunicorn on its loopback)."""
    url = f"http://127.0.0.1:{testbed.site.services.ports.app}{path}"
    result = command.run(["curl", "-s", "-X", method, "-o", "-", "-w", "\n%{http_code}", "--max-time", "5", url],
                         testbed.net[server], check=False, timeout=10)
    body, _, code = result.stdout.rpartition("\n")
    return int(code or 0), body


def lb_state(testbed, server: str) -> str:
    [lb] = vip_holders(testbed)
    return testbed.services.find(lb, "haproxy").server_states().get(server, "")


def test_only_the_nodes_run_mariadb_and_every_server_is_healthy(testbed):
    assert not [c for c in service_checks(testbed) if not c.ok]
    running = {d.host for d in testbed.services.daemons if d.name == "mariadb"}
    assert running == {"server1", "server2", "server3"}
    node = testbed.services.find("server1", "mariadb")
    assert node.status(testbed.net["server1"]).startswith("galera Synced, ready, Primary component of 3")
    assert all(lb_state(testbed, s) == "UP" for s in ("server4", "server5"))


def test_a_nodeless_app_reads_and_writes_through_the_nodes(testbed):
    code, body = app_get(testbed, NODELESS, "/write", "POST")
    assert code == 201, body
    written = json.loads(body)
    assert written["server"] == NODELESS and written["primary"] in testbed.site.db_nodes
    for server in testbed.site.db_nodes:
        mariadb = testbed.services.find(server, "mariadb")
        wait_until(lambda: mariadb.sql(testbed.net[server],
                                       f"SELECT id FROM hatestbed.entries WHERE id = {written['id']}"),
                   5, f"write {written['id']} on {server}")
    code, body = app_get(testbed, NODELESS, "/read")
    assert code == 200 and json.loads(body)["last_id"] >= written["id"], body


def test_a_nodeless_server_cut_from_every_node_fails_its_health_check(testbed):
    """A dead database is still detected: with no node reachable, /health answers 503 and the
    balancer takes the server out; back in once the nodes are reachable again."""
    node = testbed.net[NODELESS]
    rule = ["OUTPUT", "-p", "tcp", "--dport", str(testbed.site.services.ports.mariadb), "-j", "REJECT"]
    command.run(["iptables", "-I", *rule], node)
    try:
        code, _ = app_get(testbed, NODELESS, "/health")
        assert code == 503
        wait_until(lambda: lb_state(testbed, NODELESS) == "DOWN", 10, f"HAProxy marking {NODELESS} DOWN")
    finally:
        command.run(["iptables", "-D", *rule], node)
    wait_until(lambda: lb_state(testbed, NODELESS) == "UP", 10, f"{NODELESS} UP again")


def test_a_dead_node_is_replaced_by_the_next_of_the_route(testbed):
    """Runs last in the module: the killed node stays down.

    The write comes once the next node's Galera view has dropped the dead one. Sent while the
    survivors are still evicting it, it lands on whichever of them answers the readiness check
    first (seen once in the suite: server3 while server2's check waited out the view change),
    which says nothing about the route's order."""
    first, second = testbed.site.db_route(NODELESS)[:2]
    mariadb = testbed.services.find(first, "mariadb")
    os.kill(testbed.services.pid(mariadb), signal.SIGKILL)
    survivor = testbed.services.find(second, "mariadb")
    wait_until(lambda: first not in survivor.galera_state(testbed.net[second])["members"], 15,
               f"{second}'s Galera view without {first}")
    code, body = app_get(testbed, NODELESS, "/write", "POST")
    assert code == 201, body
    assert json.loads(body)["primary"] == second
    wait_until(lambda: app_get(testbed, NODELESS, "/health")[0] == 200, 10, f"{NODELESS} healthy without {first}")
    assert lb_state(testbed, NODELESS) == "UP"
