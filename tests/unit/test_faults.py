"""Unit tests of experiments/faults/ and the controller's control channel: no root, no network.

Faults are built against a Testbed that was planned but never started (its ServiceManager made
from the Site without starting anything), so argument checks run without Mininet.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from controllers.control import ControlError, ControlServer, request
from experiments.faults import FAULTS, ControllerStop, DaemonKill, FaultError, LinkDown, NodeCrash, Partition
from hatestbed.testbed import Testbed
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import load_topology
from runtime.observe import parse_group_buckets, parse_group_entry, parse_out_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def testbed(tmp_path):
    """The default topology planned, services described, nothing started."""
    tb = Testbed(load_topology())
    tb.services = ServiceManager(Site(tb.plan, tmp_path), daemons_for(Site(tb.plan, tmp_path)))
    return tb


# ---- argument checks ----------------------------------------------------------------------------

def test_unknown_host_is_named_with_the_hosts_there_are(testbed):
    with pytest.raises(FaultError, match=r"unknown host 'server9'.*server1"):
        NodeCrash(testbed, "server9")
    with pytest.raises(FaultError, match="unknown host"):
        DaemonKill(testbed, "lb9", "haproxy")
    with pytest.raises(FaultError, match="unknown host"):
        Partition(testbed, ["client1"], ["nobody"])
    with pytest.raises(FaultError, match="side must be"):
        NodeCrash(testbed, "server1", side="switch")


def test_daemon_kill_names_what_runs_on_the_host(testbed):
    with pytest.raises(FaultError, match=r"no daemon 'nginx' on lb1; it runs: firewall, node_exporter, haproxy, keepalived"):
        DaemonKill(testbed, "lb1", "nginx")
    with pytest.raises(FaultError, match="host setting, not a process"):
        DaemonKill(testbed, "lb1", "firewall")
    with pytest.raises(FaultError, match="not a signal"):
        DaemonKill(testbed, "lb1", "haproxy", sig=999)
    fault = DaemonKill(testbed, "lb1", "keepalived", sig=signal.SIGSTOP)
    assert fault.describe() == {"kind": "daemon_kill", "address": "daemon:keepalived@lb1", "host": "lb1",
                                "daemon": "keepalived", "signal": "SIGSTOP", "group": True}


def test_daemon_kill_needs_the_services(testbed):
    testbed.services = None
    with pytest.raises(FaultError, match="services are not running"):
        DaemonKill(testbed, "lb1", "haproxy")


def test_link_down_finds_exactly_the_link_or_says_there_is_none(testbed):
    ring = LinkDown(testbed, "s2", "s1")  # either order
    assert ring.ends == [[("s1-eth1", None), ("s2-eth1", None)]]
    leg = LinkDown(testbed, "s3", "lb1")  # lb1's back leg is on s3
    [[(host_end, host), (switch_end, ns)]] = leg.ends
    assert (host_end, host, ns) == ("lb1-eth1", "lb1", None) and switch_end.startswith("s3-eth")
    with pytest.raises(FaultError, match="no link between s1 and s4"):
        LinkDown(testbed, "s1", "s4")
    with pytest.raises(FaultError, match="no link between lb1 and s4"):
        LinkDown(testbed, "lb1", "s4")
    with pytest.raises(FaultError, match="both hosts"):
        LinkDown(testbed, "client1", "lb1")
    with pytest.raises(FaultError, match="unknown node 's9'"):
        LinkDown(testbed, "s1", "s9")
    with pytest.raises(FaultError, match="index 1 is out of range"):
        LinkDown(testbed, "s1", "s2", index=1)


def test_partition_groups_become_every_interface_mac(testbed):
    fault = Partition(testbed, ["client1"], ["lb1", "lb2"])
    assert fault.macs_a == [testbed.plan.host_interfaces("client1")[0].mac]
    assert len(fault.macs_b) == 4  # two legs per balancer
    assert fault.describe() == {"kind": "partition", "address": "partition:client1|lb1,lb2",
                                "name": "client1|lb1+lb2", "group_a": ["client1"], "group_b": ["lb1", "lb2"]}
    long = Partition(testbed, ["client1", "client2", "server1", "server2", "server3"],
                     ["lb1", "lb2", "monitor"])
    assert len(long.name) <= 64
    with pytest.raises(FaultError, match="empty"):
        Partition(testbed, [], ["lb1"])
    with pytest.raises(FaultError, match="lb1 on both sides"):
        Partition(testbed, ["lb1", "client1"], ["lb1"])
    with pytest.raises(FaultError, match="lists of host names"):
        Partition(testbed, "client1", ["lb1"])


def test_nothing_is_injected_into_a_testbed_that_is_not_started(testbed):
    for fault in (NodeCrash(testbed, "server1"), DaemonKill(testbed, "server1", "nginx"),
                  LinkDown(testbed, "s1", "s2"), Partition(testbed, ["client1"], ["lb1"]),
                  ControllerStop(testbed)):
        with pytest.raises(FaultError, match="not started"):
            fault.inject()
        with pytest.raises(FaultError, match="not started"):
            fault.recover()
        assert fault.injected_at is None
        json.dumps(fault.describe())
        assert fault.describe()["kind"] == fault.kind and FAULTS[fault.kind] is type(fault)


def test_the_output_port_of_a_mac_is_read_from_a_flow_dump():
    dump = """OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x0, duration=7.4s, table=1, n_packets=0, n_bytes=0, priority=100,dl_dst=02:00:00:01:01:0c actions=output:4
 cookie=0x0, duration=7.4s, table=1, n_packets=0, n_bytes=0, priority=100,dl_dst=02:00:00:01:01:0b actions=output:1
 cookie=0x0, duration=3.0s, table=1, n_packets=3, n_bytes=126, priority=20,in_port=3,dl_src=02:00:00:01:01:0a,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=output:2
"""
    assert parse_out_port(dump, "02:00:00:01:01:0b") == 1
    assert parse_out_port(dump, "02:00:00:01:01:0c") == 4
    assert parse_out_port(dump, "02:00:00:01:01:0d") is None


def test_the_fast_failover_group_of_a_mac_and_its_buckets_are_read_from_dumps():
    flows = """OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x0, duration=0.035s, table=2, n_packets=3, n_bytes=182, priority=110,in_port=1,dl_dst=02:00:00:02:02:0f actions=group:262145
 cookie=0x0, duration=0.035s, table=2, n_packets=0, n_bytes=0, priority=100,dl_dst=02:00:00:02:02:0f actions=group:262144
"""
    groups = """OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):
 group_id=262145,type=ff,bucket=watch_port:2,actions=output:2,bucket=watch_port:1,actions=IN_PORT
 group_id=262144,type=ff,bucket=watch_port:2,actions=output:2,bucket=watch_port:1,actions=output:1
"""
    assert parse_group_entry(flows, "02:00:00:02:02:0f") == 262144
    assert parse_group_entry(flows, "02:00:00:02:02:0e") is None
    assert parse_group_buckets(groups, 262144) == [(2, "2"), (1, "1")]
    assert parse_group_buckets(groups, 262145) == [(2, "2"), (1, "IN_PORT")]
    assert parse_group_buckets(groups, 7) == []


# ---- the control channel ------------------------------------------------------------------------

def test_control_server_answers_each_line_and_survives_bad_requests(tmp_path):
    calls = []

    def handler(req):
        calls.append(req)
        if req.get("op") == "boom":
            raise ValueError("exploded\non purpose")
        if req.get("op") == "bad":
            return "not a dict"
        return {"ok": True, "echo": req}

    server = ControlServer(tmp_path / "c.sock", handler)
    server.start()
    try:
        assert (tmp_path / "c.sock").stat().st_mode & 0o777 == 0o600
        assert request(tmp_path / "c.sock", {"op": "status"}) == {"ok": True, "echo": {"op": "status"}}
        assert request(tmp_path / "c.sock", {"op": "boom"}) == {"ok": False, "error": "exploded on purpose"}
        assert request(tmp_path / "c.sock", {"op": "bad"})["ok"] is False
        with socket.socket(socket.AF_UNIX) as conn:  # several lines on one connection, one not JSON
            conn.connect(str(tmp_path / "c.sock"))
            conn.sendall(b'{"op": 1}\nnot json\n{"op": 2}\n')
            reader = conn.makefile("rb")
            answers = [json.loads(reader.readline()) for _ in range(3)]
        assert [a["ok"] for a in answers] == [True, False, True]
        assert "not a JSON object" in answers[1]["error"]
    finally:
        server.close()
    assert not (tmp_path / "c.sock").exists()
    with pytest.raises(ControlError, match="c.sock"):
        request(tmp_path / "c.sock", {"op": "status"})


def test_control_server_replaces_only_a_stale_socket(tmp_path):
    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, as after a crash
    server = ControlServer(path, lambda req: {"ok": True})
    server.start()
    server.close()
    path.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        ControlServer(path, lambda req: {"ok": True}).start()
    assert path.read_text() == "precious"
    with pytest.raises(ControlError, match="longer than"):
        ControlServer(tmp_path / ("x" * 120), lambda req: {"ok": True}).start()


def test_a_control_request_that_is_never_answered_times_out(tmp_path):
    release = threading.Event()
    server = ControlServer(tmp_path / "c.sock", lambda req: release.wait(5) and {"ok": True})
    server.start()
    try:
        began = time.monotonic()
        with pytest.raises(ControlError, match="timed out"):
            request(tmp_path / "c.sock", {"op": "status"}, timeout=0.3)
        assert time.monotonic() - began < 2
    finally:
        release.set()
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_serves_the_control_channel_until_sigterm(tmp_path):
    fabric = tmp_path / "fabric.json"
    fabric.write_text(json.dumps({"switches": {"s1": {"dpid": 1}, "s2": {"dpid": 2}},
                                  "links": [{"a": "s1", "a_port": 1, "b": "s2", "b_port": 1}]}))
    sock, events = tmp_path / "controller.sock", tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "controllers.launch", "--fabric", str(fabric), "--listen-port",
         str(_free_port()), "--events", str(events), "--control", str(sock)],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                status = request(sock, {"op": "status"}, timeout=2)
                if status["ok"]:
                    break
            except ControlError:
                pass
            assert time.monotonic() < deadline, "the control channel never answered"
            time.sleep(0.05)
        assert status["connected"] == [] and status["partitions"] == {}
        answer = request(sock, {"op": "partition", "name": "p", "macs_a": ["02:00:00:00:00:01"],
                                "macs_b": ["02:00:00:00:00:02"]})
        assert answer["ok"] and answer["switches"] == [] and answer["t_installed"] >= answer["t_request"]
        refused = request(sock, {"op": "partition", "name": "p", "macs_a": [], "macs_b": []})
        assert refused["ok"] is False and "macs_a is empty" in refused["error"]
        assert request(sock, {"op": "heal", "name": "p"})["removed"] is True
        journal = [json.loads(line) for line in events.read_text().splitlines()]
        assert [e["event"] for e in journal] == ["instance_started", "partition_installed", "partition_removed"]
        assert journal[1]["macs_b"] == ["02:00:00:00:00:02"] and "t_request" in journal[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_launch_refuses_a_control_path_that_is_not_a_socket(tmp_path):
    fabric = tmp_path / "fabric.json"
    fabric.write_text(json.dumps({"switches": {"s1": {"dpid": 1}}}))
    taken = tmp_path / "file"
    taken.write_text("x")
    res = subprocess.run([sys.executable, "-m", "controllers.launch", "--fabric", str(fabric),
                          "--listen-port", str(_free_port()), "--control", str(taken)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "bad --control" in res.stderr and res.stderr.count("\n") == 1
    assert taken.read_text() == "x"


def test_controller_process_has_its_channel_in_the_run_directory(tmp_path):
    import tempfile

    from runtime.controller import ControllerError, ControllerProcess
    from runtime.runstate import RunDir

    short = Path(tempfile.mkdtemp(prefix="ft-"))  # pytest's tmp_path is too deep for AF_UNIX
    try:
        run = RunDir.create("unit", short)
    finally:
        import shutil
        shutil.rmtree(short)
    ctl = ControllerProcess(run, {"switches": {"s1": {"dpid": 1}}}, _free_port())
    assert ctl.control_path == run.path / "s" / "controller.sock"
    with pytest.raises(ControllerError, match="not running"):
        ctl.request({"op": "status"})
    deep = RunDir.create("unit", tmp_path / ("d" * 90))
    assert ControllerProcess(deep, {}, 1).control_path is None  # too long for AF_UNIX: no channel
