"""The SPOF sweep over a short fault list: prediction and observation side by side.

The command is lab 5's own (docs/labs/5-spof-hunting.md): one run in the session serves the lab
and this module, whichever comes first (the `topo_run` fixture)."""

import json

import pytest

from topo.model import load_topology

pytestmark = [pytest.mark.root, pytest.mark.studies]

FAULTS = ["node:lb1", "node:s3", "link:s1-s2", "controller", "daemon:nginx@server2", "daemon:mariadb@server1",
          "daemon:prometheus@monitor2"]
# The one size-2 cut set among them, tried after the singles: s1 loses its path to lb2's front
# leg and lb1 its back leg, so no balancer can serve client1.
PAIR = ("link:s1-s2", "node:s3")
COMMAND = ["--experiment", "spof_sweep", "--faults", ",".join(FAULTS), "--trials", "1"]


@pytest.fixture(scope="module")
def sweep(topo_run):
    ran = topo_run(COMMAND)
    assert ran.code == 0, ran.printed[-3000:]
    directory = ran.folder("spof_sweep")
    summary = json.loads((directory / "summary.json").read_text())
    return directory, summary, {tuple(t["faults"]): t for t in summary["trials"]["tuned"]}


def test_every_listed_fault_is_one_passed_trial(sweep):
    _, summary, trials = sweep
    assert list(trials) == [(f,) for f in FAULTS] + [PAIR]
    assert all(t["status"] == "passed" for t in trials.values()), trials
    assert summary["metrics"]["tuned"]["faults_injected"] == len(FAULTS) + 1


def test_a_server_daemon_is_covered_by_the_health_checks(sweep):
    _, _, trials = sweep
    web = trials[("daemon:nginx@server2",)]["services"]["web"]
    assert web["predicted_down"] is False and web["down"] is False
    assert all(c["ok_judged"] > 0 for c in web["clients"].values())


def test_a_galera_node_is_covered_by_the_cluster_and_the_health_checks(sweep):
    """Galera (the default mode): the killed node is evicted, its server leaves the pool, and
    writes go on through the other nodes before the hold ends."""
    _, _, trials = sweep
    trial = trials[("daemon:mariadb@server1",)]
    write, web = trial["services"]["write"], trial["services"]["web"]
    assert write["predicted_down"] is False and write["down"] is False
    assert web["predicted_down"] is False and web["down"] is False


def test_one_prometheus_killed_the_other_replica_raises_and_delivers_alerts(sweep):
    _, _, trials = sweep
    monitoring = trials[("daemon:prometheus@monitor2",)]["services"]["monitoring"]
    assert monitoring["predicted_down"] is False and monitoring["down"] is False, monitoring
    assert monitoring["working_replicas"] == ["monitor"]
    assert monitoring["replicas"]["monitor2"]["error"]  # killed: it answers nothing
    assert trials[("daemon:prometheus@monitor2",)]["services"]["web"]["down"] is False


def test_the_switch_that_held_a_galera_majority_is_no_longer_a_spof(sweep):
    """s3 carries lb1's back leg, server1 and monitor2: lb2 takes the VIP, server2 and server3
    keep Galera's quorum, writes and web through the VIP are served again within 2 s."""
    _, _, trials = sweep
    services = trials[("node:s3",)]["services"]
    for service in ("web", "read", "write", "monitoring"):
        assert services[service]["predicted_down"] is False and services[service]["down"] is False, services[service]
    for service in ("web", "write"):
        outage = services[service]["outage_ms"]
        assert isinstance(outage, (int, float)) and outage <= 2000, (service, outage)


def test_a_crashed_balancer_is_seen_by_monitoring_and_named_by_an_alert(sweep):
    """The VIP holder: lb2 takes the VIP, and Prometheus must be able to say lb1 is gone. The
    sweep asks until a replica works (the other may name lb1 a scrape later: alerts come 1.7-3.8 s
    after a crash at 2 s scrapes), within monitoring's deadline."""
    _, _, trials = sweep
    services = trials[("node:lb1",)]["services"]
    assert services["web"]["down"] is False
    monitoring = services["monitoring"]
    assert monitoring["down"] is False and monitoring["predicted_down"] is False, monitoring
    assert monitoring["working_replicas"], monitoring
    assert monitoring["asked_after_s"] <= monitoring["deadline_after_s"], monitoring
    for replica in monitoring["working_replicas"]:
        seen = monitoring["replicas"][replica]
        assert seen["crashed_without_alert"] == [] and seen["rule_problems"] == [] and seen["blind"] == [], seen


def test_the_report_puts_prediction_beside_observation(sweep):
    folder, summary, _ = sweep
    table = (folder / "sweep.md").read_text()
    assert "| `daemon:mariadb@server1` | write | up | up |" in table
    assert "| `daemon:prometheus@monitor2` | monitoring | up | up" in table
    assert summary["metrics"]["tuned"]["disagreements"] == len(summary["metrics"]["tuned"]["disagreement_list"])


def test_recovery_is_a_master_whose_barriers_every_live_switch_answers(sweep):
    """Asked after the fault: the standby that took over from a stopped MASTER reaches every
    switch; with a switch crashed, every other switch answers and the dead one is left out (its
    bridge still answers over loopback, which would prove nothing)."""
    _, summary, trials = sweep
    switches = set(load_topology().switches)
    stopped = trials[("controller",)]
    recovery = stopped["services"]["recovery"]
    assert recovery["predicted_down"] is False and recovery["down"] is False, recovery
    assert recovery["master"] and set(recovery["switches_answered"]) == switches
    s3 = trials[("node:s3",)]["services"]["recovery"]
    assert s3["down"] is False and s3["crashed_left_out"] == ["s3"], s3
    assert set(s3["switches_answered"]) == switches - {"s3"} and s3["switches_silent"] == []
    metrics = summary["metrics"]["tuned"]
    assert metrics["single_faults"] == len(FAULTS) and metrics["pair_faults"] == 1
    assert metrics["spof_components_observed"] == len(metrics["spof_component_list"])


def test_the_cut_set_among_the_faults_is_down_as_predicted_and_each_half_alone_is_not(sweep):
    _, summary, trials = sweep
    web = trials[PAIR]["services"]["web"]
    assert web["predicted_down"] is True and web["down"] is True, web
    for half in PAIR:
        assert trials[(half,)]["services"]["web"]["down"] is False, trials[(half,)]["services"]["web"]
    assert summary["metrics"]["tuned"]["pair_disagreements"] == 0
