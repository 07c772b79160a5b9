"""The timer frontier's analysis (experiments/frontier.py) on synthetic data."""

import pytest

from experiments.frontier import Setting, fastest_clean, frontier, frontier_plot


def synthetic() -> list[Setting]:
    rows = []
    # keepalived: failover ~ 3.6 x advert_int; under stress the two fastest settings flap.
    for timer, spurious_idle, spurious_stress in ((1000, 0, 0), (100, 0, 0), (50, 0, 0), (20, 0, 2), (10, 1, 9)):
        base = 3.6 * timer
        rows.append(Setting("keepalived", timer, "idle", [base, base * 1.1, base * 0.9], spurious_idle, 60))
        rows.append(Setting("keepalived", timer, "stress", [base * 1.2, base * 1.5, base * 1.3], spurious_stress, 60))
    # haproxy: every setting flaps under stress.
    rows.append(Setting("haproxy", 2000, "stress", [5000.0], 1, 60))
    rows.append(Setting("haproxy", 80, "stress", [200.0], 3, 60))
    return rows


def test_the_frontier_groups_by_component_and_load_largest_timer_first():
    data = frontier(synthetic())
    assert [s.timer_ms for s in data["keepalived"]["idle"]] == [1000, 100, 50, 20, 10]
    assert set(data) == {"keepalived", "haproxy"} and list(data["haproxy"]) == ["stress"]
    row = data["keepalived"]["idle"][2]
    assert row.median_ms == pytest.approx(180.0) and row.p95_ms is None  # 3 failovers: no p95
    ten = Setting("keepalived", 50, "idle", [float(v) for v in range(1, 11)], 0, 60)
    assert ten.p95_ms == pytest.approx(9.55)


def test_the_fastest_clean_setting_is_the_quickest_with_no_false_failover_under_stress():
    best = fastest_clean(synthetic())
    assert best["keepalived"].timer_ms == 50  # 20 and 10 flap under stress
    assert best["haproxy"] is None  # nothing clean: say so, do not pick the least bad
    assert fastest_clean(synthetic(), load="idle")["keepalived"].timer_ms == 20


def test_ties_go_to_the_larger_cheaper_timer_and_bad_loads_are_refused():
    rows = [Setting("haproxy", 40, "stress", [100.0]), Setting("haproxy", 80, "stress", [100.0])]
    assert fastest_clean(rows)["haproxy"].timer_ms == 80
    with pytest.raises(ValueError, match="unknown load"):
        frontier([Setting("haproxy", 80, "busy", [1.0])])
    assert Setting("haproxy", 80, "idle").median_ms is None


def test_the_plot_is_written(tmp_path):
    path = frontier_plot(synthetic(), tmp_path / "frontier.png", "synthetic")
    assert path.stat().st_size > 10_000
