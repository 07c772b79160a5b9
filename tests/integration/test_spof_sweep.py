"""The SPOF sweep over a short fault list: prediction and observation side by side."""

import json

import pytest

from experiments.registry import resolve
from hatestbed.suite import run_suite
from topo.model import load_topology

pytestmark = pytest.mark.root

FAULTS = ["daemon:nginx@server2", "daemon:mariadb@server1", "node:monitor", "node:lb2"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    [item] = run_suite(load_topology(), resolve("spof_sweep"), trials=1, seed=3, results_root=results,
                       run_root=tmp_path_factory.mktemp("runs"), options={"faults": FAULTS})
    summary = json.loads((item["dir"] / "summary.json").read_text())
    return item["dir"], summary, {tuple(t["faults"]): t for t in summary["trials"]["tuned"]}


def test_every_listed_fault_is_one_passed_trial(sweep):
    _, summary, trials = sweep
    assert list(trials) == [(f,) for f in FAULTS]
    assert all(t["status"] == "passed" for t in trials.values()), trials
    assert summary["metrics"]["tuned"]["faults_injected"] == 4


def test_a_server_daemon_is_covered_by_the_health_checks(sweep):
    _, _, trials = sweep
    web = trials[("daemon:nginx@server2",)]["services"]["web"]
    assert web["predicted_down"] is False and web["down"] is False
    assert all(c["ok_last_2s"] > 0 for c in web["clients"].values())


def test_a_galera_node_is_covered_by_the_cluster_and_the_health_checks(sweep):
    """Galera (the default mode): the killed node is evicted, its server leaves the pool, and
    writes go on through the other nodes before the hold ends."""
    _, _, trials = sweep
    trial = trials[("daemon:mariadb@server1",)]
    write, web = trial["services"]["write"], trial["services"]["web"]
    assert write["predicted_down"] is False and write["down"] is False
    assert web["predicted_down"] is False and web["down"] is False


def test_the_only_monitor(sweep):
    _, _, trials = sweep
    monitoring = trials[("node:monitor",)]["services"]["monitoring"]
    assert monitoring["predicted_down"] is True and monitoring["down"] is True
    assert trials[("node:monitor",)]["services"]["web"]["down"] is False


def test_a_crashed_balancer_is_seen_by_monitoring_and_named_by_an_alert(sweep):
    """The standby balancer: nothing a client sees, but Prometheus must be able to say it is gone."""
    _, _, trials = sweep
    services = trials[("node:lb2",)]["services"]
    assert services["web"]["down"] is False
    monitoring = services["monitoring"]
    assert monitoring["down"] is False and monitoring["predicted_down"] is False, monitoring
    assert monitoring["crashed_without_alert"] == [] and monitoring["rule_problems"] == []


def test_the_report_puts_prediction_beside_observation(sweep):
    folder, summary, _ = sweep
    table = (folder / "sweep.md").read_text()
    assert "| `daemon:mariadb@server1` | write | up | up |" in table
    assert "| `node:monitor` | monitoring | down | down" in table
    assert summary["metrics"]["tuned"]["disagreements"] == len(summary["metrics"]["tuned"]["disagreement_list"])
