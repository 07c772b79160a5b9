"""The static SPOF analysis on the seed's design and on small hand-made variants (no network)."""

from __future__ import annotations

import json

import pytest
import yaml

from experiments.faults import catalogue
from spof.analysis import analyze
from spof.facts import site_facts
from spof.model import Design
from spof.output import terminal_table, write_json, write_markdown
from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology
from topo.plan import plan_network


# The seed's design as first built (four switches, one monitor): the lessons of the old design.
FOUR_SWITCHES = DEFAULT_TOPOLOGY.parent / "examples" / "four-switches.yaml"


def variant(edit, base=DEFAULT_TOPOLOGY) -> object:
    data = yaml.safe_load(base.read_text())
    edit(data)
    return parse_topology(data, "variant")


def spofs(analysis, service: str) -> set[str]:
    return {j.component for j in analysis.spofs(service)}


@pytest.fixture(scope="module")
def seed():
    return analyze(load_topology())


def test_facts_come_from_the_rendered_configuration():
    topology = load_topology()
    facts = site_facts(topology, plan_network(topology))
    assert facts.initial_holder() == "lb1"  # priority 253 against 252
    assert facts.vrrp["lb1"].interface == "lb1-eth0" and facts.vrrp["lb1"].advert_int == 0.02
    assert facts.vrrp["lb1"].advert_interface == "lb1-eth1" and facts.vrrp["lb1"].unicast_peers == ("10.0.2.11",)
    assert facts.vrrp["lb1"].track_interfaces == ("lb1-eth1", "lb1-eth0")
    assert facts.vrrp["lb1"].preempt is False
    assert any("HAProxy process" in t for t in facts.vrrp["lb1"].tracks)
    backend = facts.backends["lb1"]
    assert backend.check == "GET /health" and backend.inter_ms == 80 and backend.fall == 2
    assert ("server3", True) in backend.servers and ("server1", False) in backend.servers
    assert facts.write_primary == {s: s for s in ("server1", "server2", "server3")}  # galera: own node
    assert facts.galera["server2"] == ("server1", "server2", "server3")
    assert facts.scrape["monitor"]["lb1"] == ("node", "haproxy")


def async_mode(data):
    data["services"] = {"mariadb": {"mode": "async"}}


def test_async_replication_the_failover_manager_covers_the_primary_but_not_with_itself_gone():
    analysis = analyze(variant(async_mode))
    write = spofs(analysis, "write")
    assert "daemon:mariadb@server1" not in write and "node:server1" not in write
    pairs = {c.components for c in analysis.cut_sets if c.service == "write"}
    assert ("daemon:mariadb@server1", "daemon:failover@monitor") in pairs
    assert ("node:server1", "node:monitor") in pairs


def test_async_replication_without_a_manager_keeps_a_single_primary_for_writes():
    def no_monitor(data):
        async_mode(data)
        del data["hosts"]["monitor"], data["hosts"]["monitor2"]
    analysis = analyze(variant(no_monitor))
    write = spofs(analysis, "write")
    assert {"node:server1", "daemon:mariadb@server1", "link:server1-s3"} <= write
    [why] = [j.reason for j in analysis.spofs("write") if j.component == "daemon:mariadb@server1"]
    assert "nothing promotes a replica automatically" in why
    assert "node:server2" not in write and "daemon:mariadb@server2" not in write


def test_galera_seed_has_no_database_spof_but_two_lost_nodes_break_quorum_for_every_client_service(seed):
    for service in ("web", "write"):
        assert not [c for c in spofs(seed, service) if "server" in c]
    web = {c.components for c in seed.cut_sets if c.service == "web"}
    assert ("daemon:mariadb@server1", "daemon:mariadb@server2") in web
    assert ("daemon:mariadb@server1", "daemon:mariadb@server3") in web  # server2 alone is a minority
    [why] = [c.reason for c in seed.cut_sets
             if c.service == "web" and c.components == ("daemon:mariadb@server1", "daemon:mariadb@server3")]
    assert "not in a majority component" in why


def test_the_seed_vip_holders_service_leg_is_tracked_by_vrrp(seed):
    """Unicast adverts over the service network and track_interface on both legs: lb1 losing
    its service leg goes to FAULT and lb2 takes the VIP."""
    web = spofs(seed, "web")
    assert "link:lb1-s3" not in web and "link:lb2-s4" not in web
    cover = {j.component: j.mitigation for j in seed.judgements if j.service == "web"}
    assert cover["link:lb1-s3"].startswith("VRRP: lb2 takes the VIP")


def front_multicast(data):
    data["services"] = {"keepalived": {"adverts": "front-multicast", "track_servers": False}}
    data["controller"] = {"edge_guards": False}


S4_CUT_OFF = ({"link:s2-s4", "link:s4-s3"}, {"link:s3-s1", "link:s4-s3"})


def test_without_tracking_servers_a_split_brain_where_one_master_serves_nothing_is_partial():
    """s4 cut off: lb2's service leg hears no advert and takes the VIP too, but behind it server2
    alone is a Galera minority. Clients reach both MASTERs (the spof_sweep saw 0-70 % served)."""
    design = Design(variant(lambda d: d.setdefault("services", {}).update(keepalived={"track_servers": False}),
                            FOUR_SWITCHES))
    assert not design.facts.vrrp["lb2"].needs_server
    for pair in S4_CUT_OFF:
        outcome = design.evaluate(pair)
        for service in ("web", "read", "write"):
            assert outcome[service].up and outcome[service].partial.startswith("split brain: client1 reaches VIP "
                                                                              "MASTERs lb1 and lb2, and lb2 reaches no server")
    # One ring link: every MASTER and server still meet; no split brain.
    assert all(not o.partial for o in design.evaluate({"link:s1-s2"}).values())
    assert all(not o.partial for o in design.evaluate(set()).values())


def test_tracking_servers_puts_the_balancer_that_serves_nothing_in_fault():
    design = Design(load_topology(FOUR_SWITCHES))
    assert design.facts.vrrp["lb2"].needs_server
    assert "lb2's HAProxy has a server UP (its stats)" in design.facts.vrrp["lb2"].tracks
    for pair in S4_CUT_OFF:
        state = design.evaluate(pair)
        assert all(state[s].up and not state[s].partial for s in ("web", "read", "write")), pair


def test_with_multicast_adverts_on_the_front_the_holders_service_leg_is_unchecked():
    """The exposed design: VRRP checks HAProxy's pid and the front carrier, not the back leg."""
    analysis = analyze(variant(front_multicast))
    web = spofs(analysis, "web")
    assert "link:lb1-s3" in web and "link:lb2-s4" not in web
    [why] = [j.reason for j in analysis.spofs("web") if j.component == "link:lb1-s3"]
    assert "nothing moves the VIP" in why and "HAProxy process" in why
    [vip] = [j.mitigation for j in analysis.judgements if j.component == "vip" and j.service == "web"]
    assert "from the internet side can take it" in vip
    [guarded] = [j.mitigation for j in analyze(load_topology()).judgements if j.component == "vip" and j.service == "web"]
    assert "edge guards let no host send from another's address" in guarded


def test_the_seed_balancers_servers_and_ring_links_are_covered(seed):
    web = spofs(seed, "web")
    for covered in ("node:lb1", "node:lb2", "daemon:haproxy@lb1", "daemon:keepalived@lb1", "node:server1",
                    "node:server2", "daemon:nginx@server1", "link:s1-s2", "link:s3-s1", "controller", "vip"):
        assert covered not in web
    cover = {j.component: j.mitigation for j in seed.judgements if j.service == "web"}
    assert cover["node:lb1"].startswith("VRRP: lb2 takes the VIP")
    assert cover["node:server1"].startswith("HAProxy health checks (GET /health every 80 ms, fall 2)")
    assert cover["link:s1-s2"].startswith("fast-failover groups in the switches reroute around it")
    assert "standby controller claims MASTER" in cover["controller"]
    assert cover["daemon:prometheus@monitor"] == "not on this service's path"


def test_the_seed_has_no_site_spof_and_lists_each_clients_own_access_apart(seed):
    assert seed.spofs() == []
    access = {c.component: c.clients for c in seed.client_access}
    assert access == {"node:s1": ("client1",), "link:client1-s1": ("client1",),
                      "node:s2": ("client2",), "link:client2-s2": ("client2",)}
    # s1 strands client1, but client2 is served through lb2: the site survives it.
    cover = {j.component: j.mitigation for j in seed.judgements if j.service == "web"}
    assert cover["node:s1"].startswith("VRRP: lb2 takes the VIP")
    # A switch that is one client's access and carries the only balancer's front leg is the site's SPOF.
    one = analyze(variant(lambda data: data["hosts"].pop("lb2")))
    [why] = [j.reason for j in one.spofs("web") if j.component == "node:s1"]
    assert why.startswith("client2 reaches no VIP MASTER") and "node:s1" in {c.component for c in one.client_access}


def test_no_service_switch_holds_a_galera_majority(seed):
    """The seed as first built put server1 and server3 on s3: losing it left server2 alone, a
    minority, and /health failed on every server. Three service switches, one node each."""
    before = analyze(load_topology(FOUR_SWITCHES))
    [why] = [j.reason for j in before.spofs("write") if j.component == "node:s3"]
    assert "not in a majority component" in why
    design = Design(load_topology())
    for switch in ("s3", "s4", "s5"):
        outcome = design.evaluate({f"node:{switch}"})
        assert all(outcome[s].up for s in ("web", "read", "write", "monitoring")), (switch, outcome)


def one_controller(data):
    data["controller"] = {"instances": 1}


def one_controller_no_fast_failover(data):
    data["controller"] = {"instances": 1, "fast_failover": False}


def test_one_monitor_is_a_spof_and_two_replicas_on_two_switches_are_not(seed):
    before = analyze(load_topology(FOUR_SWITCHES))
    assert {"node:monitor", "daemon:prometheus@monitor", "daemon:alertmanager@monitor", "daemon:alert_receiver@monitor",
            "node:s4", "link:monitor-s4"} == spofs(before, "monitoring")
    assert spofs(seed, "monitoring") == set()
    cuts = {c.components for c in seed.cut_sets if c.service == "monitoring"}
    assert ("node:monitor", "node:monitor2") in cuts
    assert ("daemon:prometheus@monitor", "daemon:prometheus@monitor2") in cuts
    cover = {j.component: j.mitigation for j in seed.judgements if j.service == "monitoring"}
    assert cover["node:monitor"].startswith("the other monitoring replica raises and delivers alerts (monitor2")
    # A host cut off by its own link is seen (InstanceDown names it), not missed.
    assert cover["link:server1-s3"].startswith("seen, not missed")


def test_a_replica_cut_off_from_a_working_part_of_the_site_is_blind_to_it():
    """The line fabric: s3-s4 cut leaves lb1, server1 and server3 serving on s3, out of the only
    monitor's reach: it alerts on them but cannot see their state."""
    line = Design(load_topology(DEFAULT_TOPOLOGY.parent / "examples" / "line.yaml"))
    outcome = line.evaluate({"link:s3-s4"})
    assert outcome["web"].up and not outcome["monitoring"].up
    assert "cannot reach lb1, server1, server3, still part of the site" in outcome["monitoring"].why


def test_the_only_controller(seed):
    assert spofs(seed, "recovery") == set()  # two controller instances: the standby takes over
    single = analyze(variant(one_controller))
    assert spofs(single, "recovery") == {"controller"}
    [why] = [j.reason for j in single.spofs("recovery")]
    assert "only controller is stopped" in why and "fast-failover groups cover one cut" in why


def test_one_load_balancer_is_a_spof_for_web():
    analysis = analyze(variant(lambda data: data["hosts"].pop("lb2")))
    web = spofs(analysis, "web")
    assert {"node:lb1", "daemon:haproxy@lb1", "link:lb1-s1", "link:lb1-s3", "vip"} <= web
    [why] = [j.reason for j in analysis.spofs("web") if j.component == "node:lb1"]
    assert "lb1 is down" in why
    # A SIGKILLed keepalived leaves the VIP where it was, and nobody else claims it.
    assert "daemon:keepalived@lb1" not in web


def test_one_server_is_a_spof_for_every_client_service():
    def one_server(data):
        del data["hosts"]["server2"], data["hosts"]["server3"]
    analysis = analyze(variant(one_server))
    for service in ("web", "read", "write"):
        assert {"node:server1", "daemon:nginx@server1", "daemon:app@server1", "daemon:mariadb@server1"} <= \
            spofs(analysis, service)


def test_a_line_fabric_makes_some_links_spofs_depending_on_attachment():
    """s1 - s2 - s3 - s4 with both balancers' front legs on s2: client1 (on s1) hangs on s1-s2;
    s2-s3 joins the internet side to the service side, which share no host: no service needs it;
    s3-s4 separates the monitor (s4) from lb1, server1 and server3 (s3)."""
    def line(data):
        data["switch_links"] = [["s1", "s2"], ["s2", "s3"], ["s3", "s4"]]
        data["hosts"]["lb1"]["interfaces"][0]["switch"] = "s2"
    analysis = analyze(variant(line, FOUR_SWITCHES))
    isl = {j.component: j.service for j in analysis.spofs() if j.kind == "isl"}
    by_link = {}
    for j in analysis.spofs():
        if j.kind == "isl":
            by_link.setdefault(j.component, set()).add(j.service)
    assert by_link == {"link:s1-s2": {"web", "read", "write"}, "link:s3-s4": {"monitoring"}}, isl
    [why] = [j.reason for j in analysis.spofs("web") if j.component == "link:s1-s2"]
    assert "a bridge of the fabric: without it client1 is cut off" in why
    assert "articulation point" not in why
    assert "link:s2-s3" not in {j.component for j in analysis.spofs()}


def test_cut_sets_are_pairs_that_no_single_failure_explains(seed):
    web = [c.components for c in seed.cut_sets if c.service == "web"]
    assert ("node:lb1", "node:lb2") in web
    assert ("node:s1", "node:s4") in web  # lb1's front and lb2's back: neither balancer serves
    singles = {(j.service, j.component) for j in seed.spofs()}
    design = Design(load_topology())
    for cut in seed.cut_sets:
        assert all((cut.service, c) not in singles for c in cut.components)
        assert design.evaluate(set(cut.components))[cut.service].up is False
    assert not [c for c in seed.cut_sets if "vip" in c.components]


def test_a_stopped_controller_freezes_paths_and_the_flood_tree():
    design = Design(variant(one_controller_no_fast_failover, FOUR_SWITCHES))
    assert design.evaluate({"controller"})["web"].up
    assert design.evaluate({"link:s3-s1"})["web"].up
    # With the controller stopped, lb1 can no longer reach server2 when its path's link is cut.
    stuck = design.evaluate({"controller", "link:s3-s4"})
    assert "lb1 cannot reach server2" not in design.evaluate({"link:s3-s4"})["web"].why
    assert stuck["web"].up  # server1 and server3 share lb1's switch: web survives, monitoring does not
    assert not stuck["monitoring"].up
    # Fast failover: the switches reroute that one cut by themselves; a standby controller: nothing stops.
    assert Design(variant(one_controller, FOUR_SWITCHES)).evaluate({"controller", "link:s3-s4"})["monitoring"].up
    assert Design(load_topology(FOUR_SWITCHES)).evaluate({"controller", "link:s3-s4"})["recovery"].up


def test_every_component_but_the_vip_is_a_fault_address(seed):
    addresses = {e.address for e in catalogue(load_topology())}
    assert {j.component for j in seed.judgements} - addresses == {"vip"}


def test_outputs_hold_every_component_and_service(tmp_path, seed):
    path = write_json(tmp_path, seed)
    data = json.loads(path.read_text())
    assert len(data["judgements"]) == len({j["component"] for j in data["judgements"]}) * len(data["services"])
    assert {"component", "kind", "service", "predicted", "reason", "mitigation"} == set(data["judgements"][0])
    text = write_markdown(tmp_path, seed).read_text()
    assert "## Client access" in text and "| `node:s1` | client1 |" in text and "## Size-2 cut sets" in text
    assert data["client_access"][0] == {"component": "node:s1", "clients": ["client1"],
                                        "reason": "the only switch client1 reaches the VIP through"}
    table = terminal_table(seed)
    assert "no SPOF predicted" in table and "client access" in table and "link:client2-s2" in table
    before = analyze(load_topology(FOUR_SWITCHES))
    assert "| `node:s3` | switch | web |" in write_markdown(tmp_path, before).read_text()
    assert "SPOF for" in terminal_table(before)


def test_static_analysis_of_a_grown_site_names_every_client_behind_an_edge_switch():
    """The seed grown to 12 servers and 5 clients (21 hosts): the analysis still names every
    client an edge switch cuts off, and routes every server to the database tier. Its speed at
    50 hosts and more is scripts/bench_spof.py's to measure (~12 s of CPU at 52 hosts here), not
    a unit test's."""
    def grown(data):
        for n in range(4, 13):
            data["hosts"][f"server{n}"] = {"role": "server", "interfaces": [{"network": "service", "switch": f"s{3 + n % 2}"}]}
        for n in range(3, 6):
            data["hosts"][f"client{n}"] = {"role": "client", "interfaces": [{"network": "internet", "switch": "s1"}]}
    big = variant(grown)
    assert len(big.hosts) == 21
    analysis = analyze(big)
    assert [c.clients for c in analysis.client_access if c.component == "node:s1"] == [
        ("client1", "client3", "client4", "client5")]
    assert analysis.facts["db_routes"]  # 12 servers, the default tier of 3 nodes


def test_spof_mode_writes_its_folder_and_prints_the_table(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    run = Path(__file__).resolve().parents[2] / "topo" / "run.py"
    env = dict(os.environ, HATESTBED_RESULTS=str(tmp_path))
    result = subprocess.run([sys.executable, str(run), "--spof"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no SPOF predicted" in result.stdout and "client access" in result.stdout
    assert "size-2 cut sets" in result.stdout
    [folder] = tmp_path.glob("*-spof")
    assert {p.name for p in folder.iterdir()} == {"spof.json", "spof.md", "topology.png", "topology.svg"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhosts: 3\n")
    result = subprocess.run([sys.executable, str(run), "--spof", "--topology", str(bad)], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_the_example_topologies_say_what_their_headers_claim():
    examples = DEFAULT_TOPOLOGY.parent / "examples"
    line = analyze(load_topology(examples / "line.yaml"))
    isl = {}
    for j in line.spofs():
        if j.kind == "isl":
            isl.setdefault(j.component, set()).add(j.service)
    assert isl == {"link:s1-s2": {"web", "read", "write"}, "link:s3-s4": {"monitoring"}}
    four = analyze(load_topology(examples / "four-switches.yaml"))
    assert spofs(four, "web") == {"node:s3"}
    one = analyze(load_topology(examples / "one-lb.yaml"))
    assert {"node:lb1", "daemon:haproxy@lb1", "link:lb1-s1", "link:lb1-s3"} <= spofs(one, "web")


def test_skipping_pool_pairs_finds_the_same_cut_sets_as_trying_every_pair(seed, monkeypatch):
    import spof.analysis as analysis_module

    monkeypatch.setattr(analysis_module, "cannot_cut", lambda *args: False)
    every = analyze(load_topology())
    assert every.pairs_tried > seed.pairs_tried
    assert {(c.service, c.components) for c in every.cut_sets} == {(c.service, c.components) for c in seed.cut_sets}


def test_a_database_tier_smaller_than_the_servers_is_judged_by_each_apps_route():
    from topo.scale import scaled_topology
    grown = scaled_topology(load_topology(), active_servers=4, clients=2)  # nodes server1-3
    analysis = analyze(grown)
    assert analysis.facts["db_routes"] == {"server4": ["server1", "server2", "server3"],
                                           "server5": ["server2", "server3", "server1"]}
    assert not {c for c in spofs(analysis, "web") if c.startswith("daemon:mariadb@")}
    pair = next(c for c in analysis.cut_sets
                if c.service == "web" and c.components == ("daemon:mariadb@server1", "daemon:mariadb@server2"))
    assert "server4 has no database node that serves (/health fails)" in pair.reason
    # One node for five servers: the node is a single point of failure for every app.
    single = analyze(grown.model_copy(update={"services": grown.services.model_copy(update={
        "mariadb": grown.services.mariadb.model_copy(update={"nodes": ["server1"]})})}))
    assert {"daemon:mariadb@server1", "node:server1"} <= spofs(single, "web")
