"""The dashboard's pure parts: the picture and menus from the model, the timeline's readers of
each journal, the fault board both front ends share, and the web server's routes (with a fake
dashboard behind them: no network, no browser)."""

import asyncio
import json

import pytest

from experiments.faults import catalogue
from hatestbed.dashboard import model as page
from hatestbed.dashboard import server
from hatestbed.dashboard.state import firing
from hatestbed.dashboard.timeline import Timeline, galera_lines, haproxy_reader, manager_lines
from hatestbed.faultboard import BoardError, FaultBoard
from hatestbed.testbed import Testbed
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from runtime.jsonl import JsonlTail, LineTail
from spof.analysis import analyze
from topo.errors import TestbedError
from topo.model import load_topology
from topo.scale import scaled_topology


@pytest.fixture
def testbed(tmp_path):
    """The default topology planned, services described, nothing started."""
    tb = Testbed(load_topology())
    tb.site = Site(tb.plan, tmp_path)
    tb.services = ServiceManager(tb.site, daemons_for(tb.site))
    return tb


# -- the picture and its menus -------------------------------------------------------------------
def test_every_fault_of_the_catalogue_is_offered_once_on_its_component_or_apart(testbed):
    model = page.page_model(testbed)
    offered = [f["address"] for item in model["nodes"] + model["edges"] for f in item["faults"]]
    offered += [f["address"] for f in model["other_faults"]]
    assert sorted(offered) == sorted(e.address for e in catalogue(testbed.topology))
    menu = {n["id"]: [f["address"] for f in n["faults"]] for n in model["nodes"]}
    assert {"node:lb1", "processes:lb1", "daemon:haproxy@lb1", "daemon:keepalived@lb1"} <= set(menu["lb1"])
    assert "node:s1" in menu["s1"]
    assert any(a.startswith("attack:") for a in menu["client2"])  # the attacker's own menu
    edges = {e["id"]: [f["address"] for f in e["faults"]] for e in model["edges"]}
    assert edges["link:s1-s2"] == ["link:s1-s2"] and edges["link:lb1-s1"] == ["link:lb1-s1"]
    assert {"controller"} <= {f["address"] for f in model["other_faults"]}
    assert all(f["address"].startswith(("controller", "partition:")) for f in model["other_faults"])


def test_the_picture_is_the_reports_layout_tiers_top_to_bottom(testbed):
    nodes = {n["id"]: n for n in page.page_model(testbed)["nodes"]}
    assert nodes["client1"]["y"] < nodes["s1"]["y"] < nodes["lb1"]["y"] < nodes["s3"]["y"] < nodes["server1"]["y"]
    assert nodes["server3"]["backup"] and nodes["s1"]["kind"] == "switch" and nodes["lb1"]["role"] == "lb"


def test_the_overlay_colours_the_analysis_spofs_and_lists_its_cut_sets(testbed):
    analysis = analyze(testbed.topology)
    overlay = page.spof_overlay(analysis)
    spofs = {j.component for j in analysis.spofs()}
    assert spofs <= set(overlay["components"])
    access = {c.component for c in analysis.client_access} - spofs
    assert all(overlay["components"][c]["colour"] == "#3182bd" for c in access)
    assert len(overlay["cut_sets"]) == len(analysis.cut_sets) > 0
    assert all(len(c["components"]) == 2 for c in overlay["cut_sets"])


def test_the_48_server_picture_places_every_node_apart():
    tb = Testbed(scaled_topology(load_topology(), 48, clients=16))
    model = page.page_model(tb)
    servers = [n for n in model["nodes"] if n["role"] == "server"]
    assert len(servers) == 49 and len({(n["x"], n["y"]) for n in model["nodes"]}) == len(model["nodes"])


# -- the timeline ---------------------------------------------------------------------------------
def test_tails_hand_out_each_whole_line_once_and_wait_for_a_torn_one(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"t": 1, "host": "lb1", "state": "MASTER"}\n{"t": 2, "ho')
    tail = JsonlTail(path)
    assert tail.records() == [{"t": 1, "host": "lb1", "state": "MASTER"}]
    assert tail.records() == []
    with open(path, "a") as f:
        f.write('st": "lb2", "state": "BACKUP"}\nnot json\n')
    assert tail.records() == [{"t": 2, "host": "lb2", "state": "BACKUP"}]
    path.write_text("x\n")  # replaced by a shorter file: read from its start
    assert LineTail(path).read() == ["x"] and tail.read() == ["x"]
    assert LineTail(tmp_path / "missing").read() == []


def test_each_journal_becomes_timeline_lines():
    line = "2026-11-24T06:48:46.519744+00:00 Server servers/server1 is DOWN, reason: Layer4 timeout"
    [(t, host, text)] = haproxy_reader("lb1")(line)
    assert host == "lb1" and text == "lb1 sees server1 DOWN" and t == pytest.approx(1795502926.519744)
    assert haproxy_reader("lb1")("some other line") == []
    [(_, host, text)] = galera_lines({"t": 5.0, "host": "server2", "status": "synced", "primary": "yes",
                                      "members": ["server2", "server3"]})
    assert text == "server2: synced, view server2,server3 (primary)"
    [(_, _, text)] = manager_lines({"t": 5.0, "event": "apps_switched", "primary": "server2", "apps": ["a"]})
    assert text == "failover manager: apps switched (primary server2)"


def test_the_timeline_merges_journals_in_time_order_and_shows_a_port_change_once(testbed, tmp_path):
    timeline = Timeline(testbed)
    site = testbed.site
    site.vrrp_events.parent.mkdir(parents=True, exist_ok=True)
    site.vrrp_events.write_text('{"t": 10.5, "host": "lb2", "state": "MASTER"}\n')
    reader = timeline.controller_reader("controller")
    port = {"event": "port_status", "t": 10.2, "switch": "s1", "port": 4, "up": False, "kind": "edge"}
    assert len(reader(port)) == 1 and reader({**port, "t": 10.3}) == []  # the standby's report of it
    assert len(reader({**port, "t": 12.0})) == 1
    timeline.board_record({"t": 10.4, "action": "fail", "address": "node:lb1", "by": "page"})
    timeline.board_record({"t": 10.45, "action": "heal", "address": "x", "by": "cli", "error": "boom"})
    events = timeline.poll()
    assert [(e.kind, e.text) for e in events] == [
        ("fault", "injected node:lb1 (page)"), ("fault", "heal x (cli) FAILED: boom"), ("vrrp", "lb2 MASTER")]
    assert timeline.poll() == [] and len(timeline.recent) == 3
    assert len({e.id for e in events}) == 3


def test_an_alert_is_firing_until_its_latest_notification_resolves_it():
    records = [{"t": 1, "alertname": "A", "instance": "x", "status": "firing"},
               {"t": 2, "alertname": "B", "instance": "y", "status": "firing"},
               {"t": 3, "alertname": "A", "instance": "x", "status": "resolved"}]
    assert firing(records) == [{"alertname": "B", "instance": "y", "since": 2}]


# -- the fault board -------------------------------------------------------------------------------
class FakeFault:
    def __init__(self, address, fails=False):
        self.address, self.fails = address, fails
        self.injected_at = self.recovered_at = None

    def inject(self):
        if self.fails:
            raise TestbedError("cannot")
        self.injected_at = 1.0

    def recover(self):
        self.recovered_at = 2.0


@pytest.fixture
def board(monkeypatch):
    monkeypatch.setattr("hatestbed.faultboard.parse", lambda address, testbed: FakeFault(address, "bad" in address))
    board = FaultBoard(testbed=None)
    board.heard = []
    board.listeners.append(board.heard.append)
    return board


def test_the_board_refuses_twice_the_same_fault_and_a_heal_of_nothing(board):
    board.fail("node:lb1", by="page")
    with pytest.raises(BoardError, match="already injected"):
        board.fail("node:lb1", by="cli")
    with pytest.raises(BoardError, match=r"link:s1-s2 is not injected \(injected: node:lb1\)"):
        board.heal("link:s1-s2", by="cli")
    with pytest.raises(BoardError, match="cannot"):
        board.fail("node:bad", by="cli")
    assert board.addresses() == ["node:lb1"]
    assert [(r["action"], r["by"], "error" in r) for r in board.heard] == [("fail", "page", False), ("fail", "cli", True)]


def test_heal_all_heals_the_last_injected_first_whoever_injected_it(board):
    board.fail("node:lb1", by="page")
    board.fail("link:s1-s2", by="cli")
    healed = board.heal_all(by="cli")
    assert [a for a, _ in healed] == ["link:s1-s2", "node:lb1"] and board.addresses() == []


# -- the web server --------------------------------------------------------------------------------
class FakeDashboard:
    def __init__(self):
        self.hub = server.Hub()
        self.workers = None  # the loop's default executor
        self.done = []
        self.spof_error = ""

    def model(self):
        return {"nodes": []}

    def spof_overlay(self):
        return None

    def hello(self):
        return {"state": {"vip": ["lb1"]}}

    def fault(self, verb, address):
        self.done.append((verb, address))
        return (None, 1.5) if address == "node:lb1" else ("no such host", None)

    def shown(self, record):
        self.done.append(("shown", record["what"]))


def test_the_server_writes_only_for_its_own_page_and_streams_hello_first():
    from aiohttp.test_utils import TestClient, TestServer

    fake = FakeDashboard()

    async def scenario():
        async with TestClient(TestServer(server.make_app(fake))) as client:
            fake.hub.loop = asyncio.get_running_loop()
            header = {server.WRITE_HEADER: "1"}
            refused = await client.post("/api/fail", json={"address": "node:lb1"})
            ok = await client.post("/api/fail", json={"address": "node:lb1"}, headers=header)
            bad = await client.post("/api/heal", json={"address": "node:x"}, headers=header)
            spof = await client.get("/api/spof")
            stream = await client.get("/events")
            first = await stream.content.readuntil(b"\r\n\r\n")
            fake.hub.publish("board", ["node:lb1"])
            second = await stream.content.readuntil(b"\r\n\r\n")
            stream.close()
            for _ in range(40):  # a closed page leaves the hub (no probe runs for it)
                if not fake.hub.watched:
                    break
                await asyncio.sleep(0.1)
            left = fake.hub.watched
            return (left, refused.status, ok.status, await ok.json(), bad.status, await bad.json(), spof.status,
                    first.decode(), second.decode())

    left, refused, ok, ok_body, bad, bad_body, spof, first, second = asyncio.run(scenario())
    assert not left
    assert refused == 403 and ok == 200 and ok_body == {"ok": True, "error": None, "t": 1.5}
    assert bad == 409 and bad_body["error"] == "no such host"
    assert fake.done == [("fail", "node:lb1"), ("heal", "node:x")]  # the refused one never reached it
    assert spof == 404
    assert "event: hello" in first and json.loads(first.split("data: ", 1)[1]) == {"state": {"vip": ["lb1"]}}
    assert "event: board" in second and '["node:lb1"]' in second
