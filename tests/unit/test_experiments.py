"""Experiment machinery without a network: journal, registry, timer profiles, evidence helpers."""

import pytest

from experiments.base import ExperimentError, Journal
from topo.errors import BadInputError
from topo.profiles import STOCK_TIMERS, profile_order, timers_of, with_timers
from experiments.lb_failover import master_intervals, overlap
from experiments.registry import discover, resolve
from topo.model import load_topology


EXPERIMENTS = discover()


def test_every_experiment_of_the_spec_is_discovered_under_its_cli_name_in_declared_order():
    spec = ["round_robin", "lb_failover", "lb_failback", "server_failover", "link_failure", "db_failover",
            "db_crash_lagging", "db_partition", "controller_failure", "packet_faults"]
    # A new experiment module may land anywhere in the order; these keep theirs relative to each other.
    assert [name for name in EXPERIMENTS if name in spec] == spec
    assert [cls.order for cls in EXPERIMENTS.values()] == sorted(cls.order for cls in EXPERIMENTS.values())
    assert [cls.name for cls in resolve("all")] == [name for name, cls in EXPERIMENTS.items() if cls.in_all]
    assert [cls.name for cls in resolve("lb_failover,round_robin")] == ["lb_failover", "round_robin"]


def test_unknown_experiment_is_a_clear_error():
    with pytest.raises(ExperimentError, match="unknown experiment 'lb_failure'; known: round_robin, lb_failover"):
        resolve("lb_failure")


def test_database_experiments_run_once_per_mode_and_the_studies_only_by_name():
    for name in ("db_failover", "db_crash_lagging", "db_partition"):
        assert EXPERIMENTS[name].profiles == ("galera", "semisync", "async")
    assert not EXPERIMENTS["db_crash_lagging"].in_all and not EXPERIMENTS["db_partition"].in_all
    assert with_timers(load_topology(), "semisync").services.mariadb.mode == "semisync"
    assert timers_of(with_timers(load_topology(), "async"))["mariadb_mode"] == "async"


def test_capacity_weighting_compares_round_robin_and_leastconn_by_name_only():
    cls = EXPERIMENTS["capacity_weighting"]
    assert cls.profiles == ("tuned", "leastconn") and not cls.in_all
    assert with_timers(load_topology(), "leastconn").services.haproxy.balance == "leastconn"
    assert load_topology().services.haproxy.balance == "roundrobin"


def test_failover_experiments_run_with_stock_and_tuned_timers():
    for name in ("lb_failover", "server_failover"):
        assert set(EXPERIMENTS[name].profiles) == {"stock", "tuned"}
    assert EXPERIMENTS["lb_failback"].profiles == ("tuned",)  # preemption decides, not timers


def test_the_topologys_own_database_mode_shares_the_tuned_testbed():
    topology = load_topology()
    assert topology.services.mariadb.mode == "galera"
    assert profile_order(topology) == ("tuned", "galera", "stock", "semisync", "async", "leastconn")
    assert with_timers(topology, "galera") == with_timers(topology, "tuned")  # one bring-up serves both
    assert with_timers(topology, "semisync") != topology
    semisync = with_timers(topology, "semisync")
    assert profile_order(semisync)[:3] == ("tuned", "semisync", "stock")


def test_only_a_promoted_replica_needs_a_fresh_testbed_per_trial():
    for name in ("db_failover", "db_crash_lagging", "db_partition"):
        study = EXPERIMENTS[name]
        assert not study.fresh_testbed_per_trial("galera"), name  # the killed or cut-off node rejoins
        assert study.fresh_testbed_per_trial("semisync") and study.fresh_testbed_per_trial("async"), name
    assert not EXPERIMENTS["lb_failover"].fresh_testbed_per_trial("tuned")


def test_stock_profile_sets_the_daemons_defaults_and_tuned_keeps_the_yaml():
    topology = load_topology()
    assert with_timers(topology, "tuned") is topology
    stock = timers_of(with_timers(topology, "stock"))
    assert stock["keepalived_advert_int_s"] == STOCK_TIMERS["keepalived"]["advert_int"] == 1.0
    assert (stock["haproxy_check_inter_ms"], stock["haproxy_fall"], stock["haproxy_rise"]) == (2000, 3, 2)
    assert timers_of(topology)["keepalived_advert_int_s"] == topology.services.keepalived.advert_int < 1.0
    with pytest.raises(BadInputError, match="unknown profile 'fast'"):
        with_timers(topology, "fast")


def test_journal_records_every_step_with_status_and_duration():
    journal = Journal()
    with journal.step("ok step") as step:
        step.detail = {"x": 1}
    with pytest.raises(RuntimeError):
        with journal.step("failing step"):
            raise RuntimeError("boom")
    steps = journal.as_list()
    assert [(s["name"], s["status"]) for s in steps] == [("ok step", "ok"), ("failing step", "error")]
    assert steps[1]["detail"] == "RuntimeError: boom"
    assert all(s["finished"] >= s["started"] and s["duration_s"] >= 0 for s in steps)


def test_split_brain_is_two_masters_at_once():
    handover = [{"t": 1.0, "host": "lb1", "state": "MASTER"}, {"t": 5.0, "host": "lb1", "state": "FAULT"},
                {"t": 5.2, "host": "lb2", "state": "MASTER"}]
    assert master_intervals(handover, end=9.0) == {"lb1": [(1.0, 5.0)], "lb2": [(5.2, 9.0)]}
    assert not overlap(master_intervals(handover, end=9.0))
    both = handover + [{"t": 6.0, "host": "lb1", "state": "MASTER"}]
    assert overlap(master_intervals(both, end=9.0))
    assert not overlap(master_intervals(both, end=9.0), since=9.5)  # only the trial's window counts


def test_a_module_dropped_into_the_package_is_discovered_and_listed():
    import subprocess
    import sys

    from tests.dropping import REPO, dropped_experiment

    with dropped_experiment() as name:
        found = discover()
        assert name in found and found[name].description.startswith("a module a test dropped")
        assert name not in [cls.name for cls in resolve("all")]  # in_all = False: by name only
        assert [cls.name for cls in resolve(name)] == [name]
        listed = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--list-experiments"],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and name in listed.stdout
    assert name not in discover()


def test_summaries_follow_the_declared_metrics():
    from experiments.base import Experiment

    class Declared(Experiment):
        name = "declared"
        metrics = {"ms": "stats", "lost": "sum", "split": "any", "ok": "all", "worst": "max"}

    trials = [{"ms": 10.0, "lost": 0, "split": False, "ok": True, "worst": 3},
              {"ms": 30.0, "lost": 2, "split": True, "ok": True, "worst": None}]
    summary = Declared.summarize(Declared.__new__(Declared), trials)
    assert summary["ms"]["median"] == 20.0 and summary["lost"] == 2 and summary["split"] is True
    assert summary["ok"] is True and summary["worst"] == 3


def test_modes_option_is_checked_before_anything_starts():
    from hatestbed.main import experiment_options, parse_args
    from topo.errors import BadInputError

    topology = load_topology()
    args = parse_args(["--experiment", "db_failover", "--modes", "galera"])
    assert experiment_options(args, resolve("db_failover"), topology) == {"modes": ["galera"]}
    with pytest.raises(BadInputError, match="--modes: unknown database mode 'raft'"):
        experiment_options(parse_args(["--modes", "raft"]), resolve("db_failover"), topology)
    with pytest.raises(BadInputError, match="--modes: only with a database experiment"):
        experiment_options(parse_args(["--modes", "galera"]), resolve("lb_failover"), topology)


def test_all_runs_the_database_experiment_in_the_topologys_mode_only():
    from hatestbed.main import experiment_options, parse_args

    options = experiment_options(parse_args(["--experiment", "all"]), resolve("all"), load_topology())
    assert options == {"modes": ["galera"], "main_job": True}
    # By name, nothing is trimmed; with --modes, the modes asked for.
    assert experiment_options(parse_args(["--experiment", "server_failover"]), resolve("server_failover"),
                              load_topology()) == {}
    asked = experiment_options(parse_args(["--experiment", "all", "--modes", "async"]), resolve("all"), load_topology())
    assert asked == {"modes": ["async"], "main_job": True}


def test_timer_sweep_options_are_checked_before_anything_starts():
    from hatestbed.main import experiment_options, parse_args
    from topo.errors import BadInputError

    topology = load_topology()
    args = parse_args(["--experiment", "timer_sweep", "--ladder", "0.05/100", "--loads", "stress", "--soak", "600"])
    assert experiment_options(args, resolve("timer_sweep"), topology) == {
        "ladder": ((0.05, 100),), "loads": ("stress",), "soak": 600.0}
    with pytest.raises(BadInputError, match=r"--ladder: '0.05' is not ADVERT_S/INTER_MS"):
        experiment_options(parse_args(["--ladder", "0.05"]), resolve("timer_sweep"), topology)
    with pytest.raises(BadInputError, match="--soak: only with --experiment timer_sweep"):
        experiment_options(parse_args(["--soak", "10"]), resolve("lb_failover"), topology)


def test_faults_recovered_together_run_at_once_and_the_first_error_is_raised(tmp_path):
    """Two recoveries that each wait for the other (as two Galera nodes of a lost quorum do)."""
    import random
    import threading
    from types import SimpleNamespace

    from experiments.base import Experiment

    both_back = threading.Barrier(2, timeout=5)

    class NeedsThePeer:
        def __init__(self, address, fails=False):
            self.address, self.fails = address, fails

        def recover(self):
            both_back.wait()  # one at a time, this would time out
            if self.fails:
                raise RuntimeError(f"{self.address} did not come back")
            return {"recovered": self.address}

    experiment = Experiment(SimpleNamespace(site=None), random.Random(1), tmp_path)
    faults = [NeedsThePeer("node:server1"), NeedsThePeer("node:server2")]
    experiment._pending += faults
    assert experiment.recover_together(faults) == [{"recovered": "node:server1"}, {"recovered": "node:server2"}]
    assert experiment._pending == []
    [step] = experiment.journal.as_list()
    assert step["name"] == "recover node:server1 + node:server2 together" and step["status"] == "ok"
    both_back.reset()
    faults = [NeedsThePeer("a"), NeedsThePeer("b", fails=True)]
    experiment._pending += faults
    with pytest.raises(RuntimeError, match="b did not come back"):
        experiment.recover_together(faults)
    assert experiment.journal.as_list()[-1]["status"] == "error"


def test_capture_is_for_the_balancer_experiments_only():
    from hatestbed.main import experiment_options, parse_args
    from topo.errors import BadInputError

    topology = load_topology()
    both = parse_args(["--experiment", "lb_failover,lb_failback", "--capture"])
    assert experiment_options(both, resolve("lb_failover,lb_failback"), topology) == {"capture": True}
    with pytest.raises(BadInputError, match="--capture: only with --experiment lb_failover"):
        experiment_options(parse_args(["--capture"]), resolve("round_robin,lb_failover"), topology)
