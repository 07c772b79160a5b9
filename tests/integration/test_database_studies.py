"""The two database studies that run by name (not in `all`), one trial per mode each: the
numbers are plausible and the async baseline shows the losses the lesson is about. Also
db_failover in the replication modes (its Galera trial: test_experiment_suite.py): like the
studies, each of its trials there needs a testbed of its own, so they run together, last.

The studies start in Galera, on the clean Galera testbed test_database_modes.py hands over."""

import json

import pytest

from experiments.registry import resolve
from hatestbed.suite import run_suite
from tests.db_checks import assert_db_failover_done
from topo.model import load_topology

pytestmark = [pytest.mark.root, pytest.mark.studies]


@pytest.fixture(scope="module")
def studies(tmp_path_factory, provider):
    summaries = run_suite(load_topology(), resolve("db_crash_lagging,db_partition"), trials=1, seed=3,
                          results_root=tmp_path_factory.mktemp("results"), provider=provider)
    summaries += run_suite(load_topology(), resolve("db_failover"), trials=1, seed=3,
                           results_root=tmp_path_factory.mktemp("results"), provider=provider,
                           options={"modes": ["semisync", "async"]})
    return {item["name"]: json.loads((item["dir"] / "summary.json").read_text()) for item in summaries
            if item["name"] != "index"}


def trial(studies, name, mode):
    [one] = studies[name]["trials"][mode]
    assert one["status"] == "passed", one
    assert one["mode"] == mode and one["acked_writes"] > 0
    return one


def test_async_loses_the_writes_it_acknowledged_during_the_cut_and_the_others_do_not(studies):
    lagging = trial(studies, "db_crash_lagging", "async")
    assert lagging["acked_during_cut"] > 0 and lagging["acked_writes_lost"] > 0
    for mode in ("semisync", "galera"):
        assert trial(studies, "db_crash_lagging", mode)["acked_writes_lost"] == 0


def test_galera_minority_accepts_nothing_and_nothing_diverges(studies):
    galera = trial(studies, "db_partition", "galera")
    assert galera["minority_acked"] == 0
    assert galera["divergent_rows"] == 0 and galera["acked_writes_lost"] == 0
    assert galera["majority_acked"] > 0


def test_replication_modes_split_brain_in_a_partition(studies):
    """No fencing: the manager promotes a replica while the cut-off primary keeps taking its own
    app's writes (the finding the README reports)."""
    for mode in ("semisync", "async"):
        one = trial(studies, "db_partition", mode)
        assert one["new_primary"] not in (None, one["writer"])
        assert one["minority_acked"] > 0  # the old primary kept acknowledging its own app's writes
        assert one["divergent_rows"] > 0


@pytest.mark.parametrize("mode", ["semisync", "async"])
def test_db_failover_is_done_by_the_always_on_component_and_loses_no_acknowledged_write(studies, mode):
    [one] = studies["db_failover"]["trials"][mode]
    assert_db_failover_done(one, mode)
