"""Unit tests of controllers.fabric: no switch, no root, no os-ken.

Default fabric: the 4-switch ring, host port 3 on every switch.

    s1 1---1 s2
    2|       |2
    2|       |1
    s4 1---2 s3
"""

from __future__ import annotations

import json

import networkx as nx
import pytest

from controllers.fabric import (
    PRIO_FLOOD,
    PRIO_HOST_DST,
    PRIO_HOST_SRC,
    TABLE_FORWARD,
    TABLE_LEARN,
    Fabric,
    FabricError,
    FlowSpec,
)

RING = {
    "switches": {"s1": {"dpid": 1}, "s2": {"dpid": 2}, "s3": {"dpid": 3}, "s4": {"dpid": 4}},
    "links": [
        {"a": "s1", "a_port": 1, "b": "s2", "b_port": 1},
        {"a": "s2", "a_port": 2, "b": "s3", "b_port": 1},
        {"a": "s3", "a_port": 2, "b": "s4", "b_port": 1},
        {"a": "s4", "a_port": 2, "b": "s1", "b_port": 2},
    ],
}
HOST_PORT = 3
MAC_A = "00:00:00:00:00:0a"
MAC_B = "00:00:00:00:00:0b"
LOCAL = 0xFFFFFFFE


def ring(connect: bool = True) -> Fabric:
    """The ring with every switch reporting ports 1, 2, 3 (and LOCAL) up."""
    fab = Fabric.from_dict(RING)
    for dpid in fab.dpids:
        fab.set_ports(dpid, {1: True, 2: True, HOST_PORT: True, LOCAL: True})
        if connect:
            fab.switch_connected(dpid)
    return fab


def cut(fab: Fabric, a: int, a_port: int, b: int, b_port: int) -> None:
    fab.set_port_state(a, a_port, False)
    fab.set_port_state(b, b_port, False)


def restore(fab: Fabric, a: int, a_port: int, b: int, b_port: int) -> None:
    fab.set_port_state(a, a_port, True)
    fab.set_port_state(b, b_port, True)


def walk(fab: Fabric, dpid: int, mac: str) -> list[int]:
    """Follow next hops from dpid to the host; fails on a loop or a dead end."""
    path = [dpid]
    host_dpid, host_port = fab.host_location(mac)
    while True:
        port = fab.next_hop(dpid, mac)
        assert port is not None, f"no next hop on {dpid} for {mac}"
        if dpid == host_dpid:
            assert port == host_port
            return path
        link = fab.link_at(dpid, port)
        assert link is not None and fab.is_link_up(link), f"{dpid}:{port} is not a live link"
        dpid = link.other(dpid)
        assert dpid not in path, f"forwarding loop {path + [dpid]}"
        path.append(dpid)


def flood_deliveries(fab: Fabric, dpid: int, in_port: int) -> dict[tuple[int, int], int]:
    """Simulate a broadcast entering dpid:in_port through the table-1 flood entries only.
    Returns how many copies leave each edge port; raises on a loop (storm)."""
    flows = {d: {f.match["in_port"]: f for f in fab.flood_flows(d)} for d in fab.dpids}
    delivered: dict[tuple[int, int], int] = {}
    queue = [(dpid, in_port)]
    hops = 0
    while queue:
        hops += 1
        assert hops < 1000, "broadcast storm"
        d, p = queue.pop()
        for out in flows[d][p].out_ports:
            link = fab.link_at(d, out)
            if link is None:
                delivered[(d, out)] = delivered.get((d, out), 0) + 1
            elif fab.is_link_up(link):
                other = link.other(d)
                queue.append((other, link.port_on(other)))
    return delivered


def tree_graph(fab: Fabric) -> nx.MultiGraph:
    g = nx.MultiGraph()
    g.add_nodes_from(fab.dpids)
    g.add_edges_from((l.a_dpid, l.b_dpid) for l in fab.spanning_tree())
    return g


def by_key(flows: list[FlowSpec]) -> dict:
    return {f.key: f for f in flows}


# ---- loading ------------------------------------------------------------------------------


def test_load_ring():
    fab = Fabric.from_dict(RING)
    assert fab.switches == {"s1": 1, "s2": 2, "s3": 3, "s4": 4}
    assert fab.dpids == [1, 2, 3, 4]
    assert len(fab.links) == 4
    assert fab.name_of(3) == "s3" and fab.dpid_of("s4") == 4
    assert all(fab.is_link_up(l) for l in fab.links)  # optimistic before any port report


def test_load_from_file(tmp_path):
    path = tmp_path / "fabric.json"
    path.write_text(json.dumps(RING))
    assert Fabric.from_file(str(path)).dpids == [1, 2, 3, 4]
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Fabric.from_file(str(path))


def _with(**changes) -> dict:
    data = json.loads(json.dumps(RING))
    data.update(changes)
    return data


def _link(**changes) -> dict:
    link = {"a": "s1", "a_port": 1, "b": "s2", "b_port": 1}
    link.update(changes)
    return _with(links=[link])


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "top level must be an object"),
        ({"links": []}, "'switches' must be a non-empty object"),
        (_with(switches={}), "'switches' must be a non-empty object"),
        (_with(switches={"s1": {}}), r"switches.s1 must be an object with a 'dpid'"),
        (_with(switches={"s1": {"dpid": "1"}}), r"switches.s1.dpid must be an integer"),
        (_with(switches={"s1": {"dpid": 0}}), r"switches.s1.dpid must be an integer"),
        (_with(switches={"s1": {"dpid": True}}), r"switches.s1.dpid must be an integer"),
        (_with(switches={"s1": {"dpid": 1}, "s2": {"dpid": 1}}), "same dpid 1"),
        (_with(links={}), "'links' must be a list"),
        (_link(b="s9"), r"links\[0\] names unknown switch 's9'"),
        (_link(b="s1", b_port=5), r"links\[0\] connects s1 to itself"),
        (_link(a_port=0), r"links\[0\].a_port must be an integer port number"),
        (_link(b_port="2"), r"links\[0\].b_port must be an integer port number"),
        (_link(a_port=0xFFFFFFFE), r"links\[0\].a_port must be an integer port number"),
        (_with(links=[{"a": "s1", "a_port": 1, "b": "s2"}]), r"links\[0\] is missing 'b_port'"),
        (_with(links=[{"a": "s1", "a_port": 1, "b": "s2", "b_port": 1},
                      {"a": "s1", "a_port": 1, "b": "s3", "b_port": 1}]),
         r"port s1:1 is already used by links\[0\]"),
    ],
)
def test_bad_fabric_raises_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        Fabric.from_dict(data)
    assert issubclass(FabricError, ValueError)


# ---- ports --------------------------------------------------------------------------------


def test_port_classification():
    fab = ring()
    assert fab.isl_ports(1) == [1, 2]
    assert fab.port_kind(1, 1) == "isl" and fab.port_kind(1, 2) == "isl"
    assert fab.port_kind(1, HOST_PORT) == "edge"
    assert fab.port_kind(1, 42) == "edge"  # anything not listed is an edge port
    assert fab.port_kind(1, LOCAL) == "reserved"
    assert fab.edge_ports(1) == [HOST_PORT]  # LOCAL is not an edge port
    assert fab.link_at(2, 2).b == "s3" and fab.link_at(2, HOST_PORT) is None
    with pytest.raises(KeyError):
        fab.isl_ports(99)


def test_isl_port_missing_from_port_list_is_down():
    fab = Fabric.from_dict(RING)
    changes = fab.set_ports(1, {2: True, HOST_PORT: True})  # port 1 (to s2) not reported
    assert [(str(c.link), c.up) for c in changes] == [("s1:1-s2:1", False)]
    assert len(fab.spanning_tree()) == 3


# ---- spanning tree and flooding -----------------------------------------------------------


def test_spanning_tree_spans_without_loop():
    fab = ring()
    g = tree_graph(fab)
    assert nx.is_tree(g)  # connected, |E| = |V| - 1, so no loop
    assert set(g.nodes) == {1, 2, 3, 4}
    assert len(fab.spanning_tree()) == 3


def test_flood_flows_follow_tree_and_drop_non_tree_isl():
    fab = ring()
    tree = fab.spanning_tree()
    (non_tree,) = [l for l in fab.links if l not in tree]
    for dpid in fab.dpids:
        allowed = set(fab.tree_ports(dpid)) | {HOST_PORT}
        flows = {f.match["in_port"]: f for f in fab.flood_flows(dpid)}
        assert set(flows) == {1, 2, HOST_PORT}
        for in_port, f in flows.items():
            assert f.table == TABLE_FORWARD and f.priority == PRIO_FLOOD
            if (dpid, in_port) in non_tree.ends:
                assert f.actions == ()  # drop: this is what breaks the ring
            else:
                assert set(f.out_ports) == allowed - {in_port}
                assert in_port not in f.out_ports  # never OFPP_IN_PORT, never back
                assert all(a[0] == "output" for a in f.actions)


def test_broadcast_reaches_every_host_once():
    fab = ring()
    for dpid in fab.dpids:
        got = flood_deliveries(fab, dpid, HOST_PORT)
        assert got == {(d, HOST_PORT): 1 for d in fab.dpids if d != dpid}


# ---- learning and paths -------------------------------------------------------------------


def test_learning_from_isl_port_is_ignored():
    fab = ring()
    out = fab.learn(1, 1, MAC_A)
    assert out.kind == "ignored" and not out.changed and "inter-switch" in out.reason
    assert fab.hosts() == {}
    assert fab.learn(1, HOST_PORT, "01:00:5e:00:00:01").kind == "ignored"  # multicast
    assert fab.learn(1, HOST_PORT, "ff:ff:ff:ff:ff:ff").kind == "ignored"
    assert fab.learn(1, LOCAL, MAC_A).kind == "ignored"
    assert fab.learn(99, HOST_PORT, MAC_A).kind == "ignored"
    assert fab.hosts() == {}


def test_learn_new_then_known():
    fab = ring()
    out = fab.learn(3, HOST_PORT, MAC_A.upper())
    assert out.kind == "new" and out.changed and out.mac == MAC_A
    assert fab.learn(3, HOST_PORT, bytes.fromhex("00000000000a")).kind == "known"
    assert fab.host_location(MAC_A) == (3, HOST_PORT)


def test_next_hop_to_host_on_s3():
    fab = ring()
    fab.learn(3, HOST_PORT, MAC_A)
    assert fab.next_hop(3, MAC_A) == HOST_PORT
    assert fab.next_hop(2, MAC_A) == 2  # s2:2 -> s3
    assert fab.next_hop(4, MAC_A) == 1  # s4:1 -> s3
    assert fab.next_hop(1, MAC_A) in (1, 2)  # two equal-cost ways round the ring
    for dpid in fab.dpids:
        assert len(walk(fab, dpid, MAC_A)) <= 3
    assert fab.next_hop(1, MAC_B) is None  # not learned


def test_host_flows_on_every_switch():
    fab = ring()
    fab.learn(3, HOST_PORT, MAC_A)
    flows = fab.flows_for_host(MAC_A)
    learn = [f for f in flows if f.table == TABLE_LEARN]
    assert learn == [FlowSpec(3, TABLE_LEARN, PRIO_HOST_SRC,
                              {"in_port": HOST_PORT, "eth_src": MAC_A}, (("goto", TABLE_FORWARD),))]
    dst = {f.dpid: f for f in flows if f.table == TABLE_FORWARD}
    assert set(dst) == {1, 2, 3, 4}
    for dpid, f in dst.items():
        assert f.priority == PRIO_HOST_DST and f.match == {"eth_dst": MAC_A}
        assert f.actions == (("output", fab.next_hop(dpid, MAC_A)),)


def test_switch_flows_contain_table_miss_and_isl_entries():
    fab = ring()
    flows = fab.flows_for_switch(1)
    miss = [f for f in flows if f.table == TABLE_LEARN and f.match == {}]
    assert miss[0].actions == (("controller", 128), ("goto", TABLE_FORWARD))
    isl = [f.match["in_port"] for f in flows if f.table == TABLE_LEARN and f.priority == 100]
    assert isl == [1, 2]


# ---- link events --------------------------------------------------------------------------


def test_cut_s1_s2_reroutes_via_s4_s3():
    fab = ring()
    fab.learn(2, HOST_PORT, MAC_A)
    assert fab.next_hop(1, MAC_A) == 1
    first = fab.set_port_state(1, 1, False)
    assert [(str(c.link), c.up) for c in first] == [("s1:1-s2:1", False)]
    assert fab.set_port_state(2, 1, False) == []  # already down
    assert fab.next_hop(1, MAC_A) == 2
    assert fab.path(1, MAC_A) == ["s1", "s4", "s3", "s2"]
    assert walk(fab, 1, MAC_A) == [1, 4, 3, 2]
    g = tree_graph(fab)
    assert nx.is_tree(g) and set(g.nodes) == {1, 2, 3, 4}
    assert all(fab.is_link_up(l) for l in fab.spanning_tree())
    for dpid in fab.dpids:
        assert flood_deliveries(fab, dpid, HOST_PORT) == {
            (d, HOST_PORT): 1 for d in fab.dpids if d != dpid}


def test_one_side_down_takes_the_link_down():
    fab = ring()
    fab.learn(2, HOST_PORT, MAC_A)
    changes = fab.set_port_state(2, 1, False)  # only s2's end reports it
    assert [c.up for c in changes] == [False]
    assert fab.next_hop(1, MAC_A) == 2
    # s1's end, still "up", is not used for flooding either
    assert 1 not in fab.tree_ports(1)
    assert [c.up for c in fab.set_port_state(2, 1, True)] == [True]
    assert fab.next_hop(1, MAC_A) == 1


def test_isolating_s1():
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.learn(3, HOST_PORT, MAC_B)
    fab.sync()
    cut(fab, 1, 1, 2, 1)
    cut(fab, 1, 2, 4, 2)
    assert fab.next_hop(1, MAC_B) is None and fab.path(1, MAC_B) is None
    assert fab.next_hop(3, MAC_A) is None
    assert fab.next_hop(1, MAC_A) == HOST_PORT  # its own host still reachable
    assert fab.tree_ports(1) == []
    g = tree_graph(fab)
    assert nx.is_forest(g) and nx.number_connected_components(g) == 2
    assert nx.is_connected(g.subgraph([2, 3, 4]))
    # s1 floods only to its host port; its ISL ingress drops
    flood = {f.match["in_port"]: f.actions for f in fab.flood_flows(1)}
    assert flood == {1: (), 2: (), HOST_PORT: ()}
    # flows to now-unreachable hosts are deleted, not left pointing at dead ports
    deltas = {d.dpid: d for d in fab.sync()}
    deleted = [f for f in deltas[1].delete if f.match.get("eth_dst") == MAC_B]
    assert len(deleted) == 1
    assert any(f.match.get("eth_dst") == MAC_A for f in deltas[2].delete)
    for dpid in (2, 3, 4):
        assert flood_deliveries(fab, dpid, HOST_PORT) == {
            (d, HOST_PORT): 1 for d in (2, 3, 4) if d != dpid}


def test_link_restore():
    fab = ring()
    fab.learn(2, HOST_PORT, MAC_A)
    cut(fab, 1, 1, 2, 1)
    tree_during = fab.spanning_tree()
    assert fab.next_hop(1, MAC_A) == 2
    restore(fab, 1, 1, 2, 1)
    assert all(fab.is_link_up(l) for l in fab.links)
    assert fab.next_hop(1, MAC_A) == 1 and walk(fab, 1, MAC_A) == [1, 2]
    assert nx.is_tree(tree_graph(fab))
    # Sticky tree: the restored link is not needed, so flooding does not change at all
    # (a mix of old and new flood entries during the update can never loop).
    assert fab.spanning_tree() == tree_during


def test_tree_changes_never_form_a_loop_in_old_union_new():
    fab = ring()
    old = fab.spanning_tree()
    for link in list(old):
        (a, ap), (b, bp) = link.ends
        cut(fab, a, ap, b, bp)
        new = fab.spanning_tree()
        live_union = [l for l in old | new if fab.is_link_up(l)]
        g = nx.MultiGraph()
        g.add_edges_from((l.a_dpid, l.b_dpid) for l in live_union)
        assert nx.is_forest(g)
        restore(fab, a, ap, b, bp)
        old = fab.spanning_tree()


# ---- MAC move -----------------------------------------------------------------------------


def test_mac_move_updates_all_switches_and_deletes_old_learn_flow():
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.sync()
    out = fab.learn(3, HOST_PORT, MAC_A)
    assert out.kind == "moved" and out.old == (1, HOST_PORT) and out.changed
    for dpid in fab.dpids:
        assert walk(fab, dpid, MAC_A)[-1] == 3
    deltas = {d.dpid: d for d in fab.sync()}
    old_learn = FlowSpec(1, TABLE_LEARN, PRIO_HOST_SRC,
                         {"in_port": HOST_PORT, "eth_src": MAC_A}, (("goto", TABLE_FORWARD),))
    assert deltas[1].delete == [old_learn]
    assert any(f.match == {"in_port": HOST_PORT, "eth_src": MAC_A} for f in deltas[3].add)
    # every switch gets its eth_dst entry overwritten (OFPFC_ADD), none is deleted
    for dpid in fab.dpids:
        dst = [f for f in deltas[dpid].add if f.match == {"eth_dst": MAC_A}]
        assert dst == [FlowSpec(dpid, TABLE_FORWARD, PRIO_HOST_DST, {"eth_dst": MAC_A},
                                (("output", fab.next_hop(dpid, MAC_A)),))]
        assert not any(f.match.get("eth_dst") == MAC_A for f in deltas[dpid].delete)


def test_mac_move_to_other_port_same_switch():
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.sync()
    assert fab.learn(1, 4, MAC_A).kind == "moved"
    assert fab.next_hop(1, MAC_A) == 4
    deltas = {d.dpid: d for d in fab.sync()}
    assert [f.match for f in deltas[1].delete] == [{"in_port": HOST_PORT, "eth_src": MAC_A}]
    assert set(deltas) == {1}  # other switches route to s1 as before
    assert 4 in fab.edge_ports(1)  # a frame arrived there: port exists


# ---- sync ---------------------------------------------------------------------------------


def test_sync_sends_everything_once_then_only_changes():
    fab = ring(connect=False)
    assert fab.sync() == []  # nothing connected
    fab.switch_connected(1)
    (delta,) = fab.sync()
    assert delta.dpid == 1 and delta.delete == []
    assert by_key(delta.add) == by_key(fab.flows_for_switch(1))
    assert fab.sync() == []
    fab.learn(2, HOST_PORT, MAC_A)
    (delta,) = fab.sync()
    assert [f.match for f in delta.add] == [{"eth_dst": MAC_A}]
    fab.switch_disconnected(1)
    assert fab.sync() == []
    fab.switch_connected(1)  # reconnect: the switch was wiped, everything again
    (delta,) = fab.sync()
    assert len(delta.add) == len(fab.flows_for_switch(1))


def test_sync_after_cut_overwrites_instead_of_deleting():
    fab = ring()
    fab.learn(2, HOST_PORT, MAC_A)
    fab.sync()
    cut(fab, 1, 1, 2, 1)
    deltas = {d.dpid: d for d in fab.sync()}
    dst = [f for f in deltas[1].add if f.match == {"eth_dst": MAC_A}]
    assert dst[0].actions == (("output", 2),)
    assert all(d.delete == [] for d in deltas.values())  # same keys, new actions


def test_deleted_edge_port_forgets_its_hosts():
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.set_port_state(1, HOST_PORT, False, deleted=True)
    assert fab.host_location(MAC_A) is None
    assert HOST_PORT not in fab.edge_ports(1)


# ---- parallel links -----------------------------------------------------------------------


PARALLEL = {
    "switches": {"s1": {"dpid": 1}, "s2": {"dpid": 2}, "s3": {"dpid": 3}},
    "links": [
        {"a": "s1", "a_port": 1, "b": "s2", "b_port": 1},
        {"a": "s1", "a_port": 2, "b": "s2", "b_port": 2},
        {"a": "s2", "a_port": 3, "b": "s3", "b_port": 1},
    ],
}


def test_parallel_links():
    fab = Fabric.from_dict(PARALLEL)
    for dpid, ports in {1: [1, 2, 5], 2: [1, 2, 3, 5], 3: [1, 5]}.items():
        fab.set_ports(dpid, {p: True for p in ports})
        fab.switch_connected(dpid)
    assert nx.is_tree(tree_graph(fab))
    assert fab.tree_ports(1) == [1]  # one of the two parallel links, the first
    flood1 = {f.match["in_port"]: f.actions for f in fab.flood_flows(1)}
    assert flood1[2] == ()  # the other parallel link drops floods
    fab.learn(3, 5, MAC_A)
    assert fab.next_hop(1, MAC_A) == 1
    assert walk(fab, 1, MAC_A) == [1, 2, 3]
    for dpid in fab.dpids:
        assert sum(flood_deliveries(fab, dpid, 5).values()) == 2
    cut(fab, 1, 1, 2, 1)
    assert fab.next_hop(1, MAC_A) == 2
    assert fab.next_hop(2, MAC_A) == 3
    assert fab.tree_ports(1) == [2] and nx.is_tree(tree_graph(fab))
    for dpid in fab.dpids:
        assert sum(flood_deliveries(fab, dpid, 5).values()) == 2
    restore(fab, 1, 1, 2, 1)
    assert fab.next_hop(1, MAC_A) == 1  # unicast prefers the lowest-numbered live link
    assert fab.tree_ports(1) == [2]  # flooding keeps the link it already uses


# ---- the thin layers: FlowSpec -> OpenFlow, and the launcher's error exits ---------------


def test_every_flow_spec_serializes_as_openflow13():
    from os_ken.ofproto import ofproto_v1_3
    from os_ken.ofproto.ofproto_protocol import ProtocolDesc

    from controllers.app import flow_mod

    dp = ProtocolDesc(ofproto_v1_3.OFP_VERSION)  # enough of a datapath to build messages
    ofp = dp.ofproto
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    cut(fab, 1, 1, 2, 1)  # so that some entries drop (no instructions)
    flows = [f for d in fab.dpids for f in fab.flows_for_switch(d)]
    assert any(f.actions == () for f in flows)
    for f in flows:
        msg = flow_mod(dp, f, ofp.OFPFC_ADD)
        msg.serialize()
        assert msg.table_id == f.table and msg.priority == f.priority
        assert dict(msg.match.items()) == dict(f.match)
        kinds = [type(i).__name__ for i in msg.instructions]
        assert ("OFPInstructionGotoTable" in kinds) == any(a[0] == "goto" for a in f.actions)
        dele = flow_mod(dp, f, ofp.OFPFC_DELETE_STRICT)
        dele.serialize()
        assert dele.instructions == []
    [learn_miss] = [f for f in fab.flows_for_switch(1) if f.table == TABLE_LEARN and f.match == {}]
    miss = flow_mod(dp, learn_miss, ofp.OFPFC_ADD)
    (apply, goto) = miss.instructions
    assert apply.actions[0].port == ofp.OFPP_CONTROLLER and apply.actions[0].max_len == 128
    assert goto.table_id == TABLE_FORWARD


def _launch(*args):
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([sys.executable, "-m", "controllers.launch", *args],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])


def test_launch_bad_fabric_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "fabric.json"
    bad.write_text(json.dumps(_link(b="s9")))
    res = _launch("--fabric", str(bad), "--listen-port", "1")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "unknown switch 's9'" in res.stderr
    res = _launch("--fabric", str(tmp_path / "missing.json"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_launch_listens_and_exits_0_on_sigterm(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as s:  # a free port (no switch will connect to it)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fabric = tmp_path / "fabric.json"
    fabric.write_text(json.dumps(RING))
    proc = subprocess.Popen(
        [sys.executable, "-m", "controllers.launch", "--fabric", str(fabric),
         "--listen-port", str(port), "--events", str(tmp_path / "events.jsonl")],
        cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "controller never listened"
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- partitions and the control channel's decisions ----------------------------------------

MAC_C = "00:00:00:00:00:0c"


def partitioned() -> Fabric:
    """A on s1, B on s3, C on s2; partition p1 keeps A and B apart."""
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.learn(3, HOST_PORT, MAC_B)
    fab.learn(2, HOST_PORT, MAC_C)
    fab.sync()
    fab.add_partition("p1", [MAC_A], [MAC_B])
    return fab


def test_partition_drops_unicast_both_ways_on_every_switch():
    from controllers.fabric import PRIO_PARTITION

    fab = partitioned()
    for dpid in fab.dpids:
        drops = [f for f in fab.flows_for_switch(dpid) if f.priority == PRIO_PARTITION]
        assert sorted(f.match.items() for f in drops) == sorted([
            {"eth_src": MAC_A, "eth_dst": MAC_B}.items(), {"eth_src": MAC_B, "eth_dst": MAC_A}.items()])
        assert all(f.table == TABLE_LEARN and f.actions == () for f in drops)
        # Above every learning entry of table 0, so nothing from A to B even reaches table 1.
        assert PRIO_PARTITION > max(f.priority for f in fab.flows_for_switch(dpid)
                                    if f.table == TABLE_LEARN and f.priority != PRIO_PARTITION)


def test_partition_keeps_group_frames_of_one_side_off_the_other_sides_ports():
    from controllers.fabric import GROUP_DST, PRIO_PARTITION_FLOOD

    fab = partitioned()
    for dpid in fab.dpids:
        group = [f for f in fab.flows_for_switch(dpid) if f.priority == PRIO_PARTITION_FLOOD]
        if dpid not in (1, 3):  # no host of either side here: plain flooding
            assert group == []
            continue
        other = {1: MAC_B, 3: MAC_A}[dpid]  # the side whose frames must not reach this port
        floods = {f.match["in_port"]: f for f in fab.flood_flows(dpid) if f.actions}
        # Every flood that would reach the other side's port gets a filtered twin; no other.
        assert group and {f.match["in_port"] for f in group} == {
            p for p, f in floods.items() if HOST_PORT in f.out_ports}
        for f in group:
            assert f.table == TABLE_FORWARD and f.match["eth_src"] == other and f.match["eth_dst"] == GROUP_DST
            assert HOST_PORT not in f.out_ports
            assert set(f.out_ports) == set(floods[f.match["in_port"]].out_ports) - {HOST_PORT}
        assert PRIO_FLOOD < PRIO_PARTITION_FLOOD < PRIO_HOST_DST


def test_partition_changes_only_add_then_remove_its_own_entries():
    fab = ring()
    fab.learn(1, HOST_PORT, MAC_A)
    fab.learn(3, HOST_PORT, MAC_B)
    fab.sync()
    before = {d: {f.key for f in fab.installed_flows(d)} for d in fab.dpids}
    assert fab.add_partition("p1", [MAC_A], [MAC_B]) is False
    added = fab.sync()
    assert {d.dpid for d in added} == set(fab.dpids) and all(not d.delete for d in added)
    assert all(f.key not in before[d.dpid] for d in added for f in d.add)
    assert fab.remove_partition("p1") is True and fab.remove_partition("p1") is False
    removed = fab.sync()
    assert all(not d.add for d in removed)
    assert {f.key for d in removed for f in d.delete} == {f.key for d in added for f in d.add}
    assert {d: {f.key for f in fab.installed_flows(d)} for d in fab.dpids} == before


def test_partition_follows_a_host_that_moves_and_survives_a_reconnect():
    from controllers.fabric import PRIO_PARTITION, PRIO_PARTITION_FLOOD

    fab = partitioned()
    fab.learn(4, HOST_PORT, MAC_B)  # B moves from s3 to s4
    assert not [f for f in fab.flows_for_switch(3) if f.priority == PRIO_PARTITION_FLOOD]
    assert [f for f in fab.flows_for_switch(4) if f.priority == PRIO_PARTITION_FLOOD]
    fab.sync()
    fab.switch_disconnected(2)
    fab.switch_connected(2)  # wiped: the next sync sends everything, partition included
    (delta,) = fab.sync()
    assert delta.dpid == 2 and any(f.priority == PRIO_PARTITION for f in delta.add)


def test_partition_replaces_by_name_and_overlapping_partitions_share_entries():
    from controllers.fabric import PRIO_PARTITION

    fab = partitioned()
    assert fab.add_partition("p1", [MAC_A], [MAC_B, MAC_C]) is True
    assert fab.add_partition("p2", [MAC_B], [MAC_A]) is False
    drops = [f for f in fab.flows_for_switch(1) if f.priority == PRIO_PARTITION]
    assert len(drops) == len({f.key for f in drops}) == 4  # A<->B once, A<->C
    fab.remove_partition("p1")
    assert len([f for f in fab.flows_for_switch(1) if f.priority == PRIO_PARTITION]) == 2  # p2 still


@pytest.mark.parametrize("name, a, b, message", [
    ("", [MAC_A], [MAC_B], "partition name"),
    ("x" * 65, [MAC_A], [MAC_B], "partition name"),
    ("p", [], [MAC_B], "macs_a is empty"),
    ("p", [MAC_A], MAC_B, "macs_b must be a list"),
    ("p", [MAC_A], ["nonsense"], "not a MAC address"),
    ("p", [MAC_A], ["ff:ff:ff:ff:ff:ff"], "not a host"),
    ("p", [MAC_A, MAC_B], [MAC_B.upper()], "on both sides"),
])
def test_partition_validation(name, a, b, message):
    fab = ring()
    with pytest.raises(FabricError, match=message):
        fab.add_partition(name, a, b)
    assert fab.partitions() == {}


def test_control_partition_heal_status():
    from controllers.fabric import control

    fab = partitioned()
    fab.remove_partition("p1")
    fab.sync()
    out = control(fab, {"op": "partition", "name": "p9", "macs_a": [MAC_A], "macs_b": [MAC_B, MAC_C]})
    assert out.reply["ok"] and out.event == "partition_installed"
    assert out.fields == {"name": "p9", "macs_a": [MAC_A], "macs_b": sorted([MAC_B, MAC_C]), "replaced": False}
    assert out.reply["partition_flows_total"] == sum(len(fab.partition_flows(d)) for d in fab.dpids) > 0
    status = control(fab, {"op": "status"})
    assert status.event is None and list(status.reply["partitions"]) == ["p9"]
    assert status.reply["connected"] == ["s1", "s2", "s3", "s4"] and status.reply["hosts"][MAC_A] == ["s1", 3]
    json.dumps(status.reply)  # goes over the wire
    healed = control(fab, {"op": "heal", "name": "p9"})
    assert healed.reply == {"ok": True, "op": "heal", "name": "p9", "removed": True}
    assert healed.event == "partition_removed" and fab.partitions() == {}
    again = control(fab, {"op": "heal", "name": "p9"})  # idempotent: nothing to install, no event
    assert again.reply["removed"] is False and again.event is None


@pytest.mark.parametrize("request_, message", [
    (["op", "status"], "JSON object"),
    ({"op": "explode"}, "unknown op"),
    ({}, "unknown op"),
    ({"op": "heal"}, "'name'"),
    ({"op": "heal", "name": "p", "force": True}, "unknown field"),
    ({"op": "partition", "name": "p", "macs_a": [MAC_A]}, "macs_b must be a list"),
])
def test_control_rejects_bad_requests(request_, message):
    from controllers.fabric import control

    with pytest.raises(FabricError, match=message):
        control(ring(), request_)


def test_partition_flow_specs_serialize_as_openflow13_with_a_masked_eth_dst():
    from os_ken.ofproto import ofproto_v1_3
    from os_ken.ofproto.ofproto_protocol import ProtocolDesc

    from controllers.app import flow_mod
    from controllers.fabric import GROUP_DST

    dp = ProtocolDesc(ofproto_v1_3.OFP_VERSION)
    flows = partitioned().partition_flows(3)
    assert any(f.match.get("eth_dst") == GROUP_DST for f in flows)
    for f in flows:
        msg = flow_mod(dp, f, dp.ofproto.OFPFC_ADD)
        msg.serialize()
        assert dict(msg.match.items()) == dict(f.match)
