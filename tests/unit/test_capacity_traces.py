"""capacity_weighting's pure parts: shares over time, the agent trace, the run figures."""

from experiments.capacity_weighting import CapacityWeighting, read_agent_trace, shares_over_time
from experiments.probes import Request


def req(seq, sent, took, server, status=200, error=""):
    return Request(seq, sent, sent + took, status, error, server)


def test_shares_are_binned_by_send_time_over_successful_requests():
    rows = [req(1, 100.1, 0.01, "server1"), req(2, 100.2, 0.01, "server2"), req(3, 100.3, 0.01, "server2"),
            req(4, 101.5, 0.01, "server2"), req(5, 101.6, 2.0, "", 0, "timeout")]
    shares = shares_over_time(rows, 100.0, ["server1", "server2"])
    assert shares == [{"t_s": 0.0, "server1": 0.333, "server2": 0.667},
                      {"t_s": 1.0, "server1": 0.0, "server2": 1.0}]


def test_the_agent_trace_keeps_unanswered_samples_as_none(tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text("t,server,free\n100.0,server1,75\n100.1,server1,\n100.1,server2,100\n")
    assert read_agent_trace(path) == [{"t": 100.0, "server": "server1", "free": 75.0},
                                      {"t": 100.1, "server": "server1", "free": None},
                                      {"t": 100.1, "server": "server2", "free": 100.0}]
    assert read_agent_trace(tmp_path / "missing.csv") == []


def test_run_figures_count_what_the_slow_server_did():
    requests = [req(i, 100 + i * 0.01, 0.005, "server2") for i in range(98)]
    requests += [req(98, 101.0, 1.2, "server1"), req(99, 101.01, 5.0, "", 0, "timeout")]
    run = {"tag": "off", "requests": requests,
           "weights": [{"t": 100.0, "server": "server1", "weight": 100}, {"t": 100.1, "server": "server1", "weight": 25}],
           "changes": []}
    figures = CapacityWeighting.run_figures(run, "server1")
    assert figures["failed_off"] == 1 and figures["timeouts_off"] == 1
    assert figures["slow_share_off"] == round(1 / 99, 3)
    assert figures["p50_off_ms"] == 5.0 and figures["p99_off_ms"] > 5.0
    assert figures["slow_weight_min_off"] == 25
