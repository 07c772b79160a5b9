"""Checks on database experiment results shared by more than one test module."""


def assert_db_failover_done(trial: dict, mode: str) -> None:
    """db_failover's trial in `mode`: the failover happened (by the component, seen in its
    journal), writes came back and no acknowledged write was lost (test_experiment_suite.py:
    Galera; test_database_studies.py: the replication modes)."""
    assert trial["status"] == "passed", trial
    assert trial["mode"] == mode and trial["acked_writes"] > 0
    assert trial["acked_writes_lost"] == 0
    assert 0 < trial["write_outage_ms"] < 30_000
    assert trial["detect_ms"] is not None and 0 < trial["detect_ms"] < 10_000  # from the component's journal
    if mode != "galera":
        assert trial["new_primary"] not in (None, trial["writer"])
