"""Edge guards: which port may send from which address, generated from the topology."""

import pytest

from controllers import fabric as fabric_module
from controllers.fabric import Fabric, FabricError
from controllers.guards import PRIO_GUARD_ALLOW, PRIO_GUARD_DROP, TABLE_GUARD
from runtime import observe
from topo.model import load_topology
from topo.plan import plan_network

PLAN = plan_network(load_topology())
VIP = str(PLAN.topology.vip.address)


def seed_fabric(guards: bool = True) -> Fabric:
    data = PLAN.fabric()
    data["edge_guards"] = guards
    return Fabric.from_dict(data)


def port_of(host: str, network: str):
    intf = next(i for i in PLAN.host_interfaces(host) if i.network == network)
    return PLAN.dpid(intf.switch), intf.switch_port, intf


def allowed(fab: Fabric, dpid: int, port: int, eth_type: int) -> set[str]:
    key = "ipv4_src" if eth_type == 0x0800 else "arp_spa"
    return {f.match[key] for f in fab.flows_for_switch(dpid)
            if f.table == TABLE_GUARD and f.priority == PRIO_GUARD_ALLOW and f.match["in_port"] == port
            and f.match["eth_type"] == eth_type}


def test_the_seed_guards_every_host_port_from_the_plan():
    assert PLAN.fabric()["edge_guards"] is True  # on by default (controller.edge_guards)
    fab = seed_fabric()
    for intf in PLAN.interfaces:
        dpid = PLAN.dpid(intf.switch)
        guard = [f for f in fab.flows_for_switch(dpid) if f.table == TABLE_GUARD and f.match.get("in_port") == intf.switch_port]
        drops = [f for f in guard if f.priority == PRIO_GUARD_DROP]
        assert drops and drops[0].actions == () and drops[0].match == {"in_port": intf.switch_port}
        assert all(f.match["eth_src"] == intf.mac for f in guard if f.priority == PRIO_GUARD_ALLOW)


def test_only_a_balancers_front_port_may_claim_the_vip():
    fab = seed_fabric()
    network = PLAN.topology.vip.network
    for lb in ("lb1", "lb2"):
        dpid, port, intf = port_of(lb, network)
        assert allowed(fab, dpid, port, 0x0806) == allowed(fab, dpid, port, 0x0800) == {str(intf.ip), VIP}
        back_dpid, back_port, back = port_of(lb, "service")
        assert allowed(fab, back_dpid, back_port, 0x0806) == {str(back.ip)}  # not the VIP on the back leg
    dpid, port, intf = port_of("client2", network)
    assert allowed(fab, dpid, port, 0x0806) == allowed(fab, dpid, port, 0x0800) == {str(intf.ip)}
    arp = [f for f in fab.flows_for_switch(dpid) if f.match.get("in_port") == port and f.match.get("eth_type") == 0x0806]
    assert all(f.match["arp_sha"] == intf.mac for f in arp)  # the ARP sender MAC is checked too


def test_guards_off_leave_only_the_way_on():
    fab = seed_fabric(guards=False)
    guard = [f for d in fab.dpids for f in fab.flows_for_switch(d) if f.table == TABLE_GUARD]
    assert guard and all(f.match == {} and f.actions == (("goto", fabric_module.TABLE_LEARN),) for f in guard)


def test_guard_entries_serialize_as_openflow13():
    from os_ken.ofproto import ofproto_v1_3
    from os_ken.ofproto.ofproto_protocol import ProtocolDesc

    from controllers.app import flow_mod

    dp = ProtocolDesc(ofproto_v1_3.OFP_VERSION)
    fab = seed_fabric()
    for f in (f for d in fab.dpids for f in fab.flows_for_switch(d) if f.table == TABLE_GUARD):
        msg = flow_mod(dp, f, dp.ofproto.OFPFC_ADD)
        msg.serialize()
        assert dict(msg.match.items()) == dict(f.match)


@pytest.mark.parametrize("edge, why", [
    ({"switch": "s9", "port": 9, "host": "x", "mac": "02:00:00:00:00:01", "addresses": ["10.0.1.9"]}, "unknown switch"),
    ({"switch": "s1", "port": 1, "host": "x", "mac": "02:00:00:00:00:01", "addresses": ["10.0.1.9"]}, "not a free edge port"),
    ({"switch": "s1", "port": 9, "host": "x", "mac": "nope", "addresses": ["10.0.1.9"]}, "must be a MAC"),
    ({"switch": "s1", "port": 9, "host": "x", "mac": "02:00:00:00:00:01", "addresses": []}, "non-empty list"),
])
def test_a_bad_edge_is_refused(edge, why):
    data = PLAN.fabric()
    data["edges"] = [edge]
    with pytest.raises(FabricError, match=why):
        Fabric.from_dict(data)


def test_observe_reads_the_tables_the_controller_writes():
    assert observe.FORWARD_TABLE == fabric_module.TABLE_FORWARD
    assert observe.GUARD_TABLE == TABLE_GUARD and observe.GUARD_DROP_PRIORITY == PRIO_GUARD_DROP
    dump = (" cookie=0x0, duration=3.1s, table=0, n_packets=20, n_bytes=1200, priority=100,in_port=5 actions=drop\n"
            " cookie=0x0, duration=3.1s, table=0, n_packets=7, n_bytes=420, priority=300,arp,in_port=5,"
            "dl_src=02:00:00:01:00:0b,arp_spa=10.0.1.11,arp_sha=02:00:00:01:00:0b actions=goto_table:1\n"
            " cookie=0x0, duration=3.1s, table=0, n_packets=0, n_bytes=0, priority=100,in_port=6 actions=drop\n")
    assert observe.parse_guard_drops(dump) == {5: 20, 6: 0}
