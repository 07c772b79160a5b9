"""The failover manager's decisions on recorded states, its rendered configuration, and where it
runs (replication modes only, on the first monitor, with a firewall opening to MariaDB)."""

import json
from pathlib import Path

import yaml

from hosts.failover import FAIL_AFTER, Failover, manager_host
from hosts.failoverd.decision import Seen, decide, gtid_seq
from hosts.firewall import Firewall
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import DEFAULT_TOPOLOGY, parse_topology
from topo.plan import plan_network

PRIMARY = Seen("primary", False, received="0-1-40")


def replica(io="Connecting", received="0-1-40", master="server1"):
    return Seen("replica", True, io_running=io, master=master, received=received)


def site(mode: str) -> Site:
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"mariadb": {"mode": mode}}
    return Site(plan_network(parse_topology(data)), Path("/tmp/x"))


def test_gtid_sequence_of_domain_zero():
    assert gtid_seq("0-1-42") == 42 and gtid_seq("1-3-7,0-2-9") == 9 and gtid_seq("") == 0


def test_an_answering_primary_is_kept_and_a_returned_old_primary_is_fenced():
    observed = {"server1": PRIMARY, "server2": replica("Yes"), "server3": Seen("primary", False)}
    decision = decide("server1", 0, observed, 3)
    assert decision.action == "keep" and decision.fence == ("server3",)


def test_no_promotion_before_the_detection_timer_runs_out():
    observed = {"server1": None, "server2": replica(), "server3": replica()}
    assert decide("server1", 2, observed, 3).action == "wait"
    assert decide("server1", 3, observed, 3).action == "promote"


def test_the_replica_that_received_the_most_is_promoted_and_the_others_repointed():
    observed = {"server1": None, "server2": replica(received="0-1-40"), "server3": replica(received="0-1-41")}
    decision = decide("server1", 3, observed, 3)
    assert (decision.new_primary, decision.repoint) == ("server3", ("server2",))
    tie = decide("server1", 3, {"server1": None, "server2": replica(), "server3": replica()}, 3)
    assert tie.new_primary == "server2"  # ties go to server order


def test_a_replica_still_streaming_from_the_primary_blocks_promotion():
    observed = {"server1": None, "server2": replica("Yes"), "server3": replica()}
    decision = decide("server1", 10, observed, 3)
    assert decision.action == "wait" and "server2 still streams" in decision.reason


def test_without_an_answering_replica_the_manager_is_stuck():
    decision = decide("server1", 5, {"server1": None, "server2": None, "server3": None}, 3)
    assert decision.action == "stuck"


def test_the_manager_runs_in_replication_modes_only_on_the_first_monitor():
    assert manager_host(site("galera")) is None
    for mode in ("semisync", "async"):
        s = site(mode)
        assert manager_host(s) == "monitor"
        assert [d.host for d in daemons_for(s) if d.name == "failover"] == ["monitor"]
    assert not [d for d in daemons_for(site("galera")) if d.name == "failover"]


def test_the_manager_config_names_every_server_the_primary_and_every_app_writer_file():
    s = site("semisync")
    daemon = Failover(s, "monitor")
    config = json.loads(daemon.files()[daemon.config_path])
    assert config["primary"] == "server1" and set(config["servers"]) == set(s.servers)
    assert config["fail_after"] == FAIL_AFTER and config["semisync"] is True
    assert set(config["writer_files"]) == set(s.servers)
    assert all(path.endswith("/app.json") for path in config["writer_files"].values())


def test_only_the_managers_host_gets_a_firewall_opening_to_mariadb():
    def opening(mode, host):
        return [line for line in Firewall(site(mode), host).rule_lines() if "db-failover" in line]
    monitor_ip = site("async").backend_ip("monitor")
    assert opening("async", "server2") and all(monitor_ip in line for line in opening("async", "server2"))
    assert not opening("galera", "server2")
    assert not opening("async", "lb1")
