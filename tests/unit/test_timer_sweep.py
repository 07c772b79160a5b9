"""timer_sweep without a network: its options, its cells, the topology of a setting, the frontier's
rows from cells, and the CPU meter's reading of /proc/stat."""

import pytest

from experiments.stressor import CpuStressor, cpu_times
from experiments.timer_sweep import LADDER, TimerSweep, cells, parse_ladder, parse_loads, parse_soak, retimed, settings_of
from topo.model import load_topology


def test_the_ladder_spans_stock_to_the_fastest_each_daemon_takes():
    assert LADDER[0] == (1.0, 2000) and LADDER[-1] == (0.01, 20)
    assert [a for a, _ in LADDER] == sorted((a for a, _ in LADDER), reverse=True)
    assert parse_ladder("1/2000, 0.05/100") == ((1.0, 2000), (0.05, 100))
    assert parse_ladder("0.07/70") == ((0.07, 70),)  # 10 ms steps despite float rounding
    assert parse_ladder("tuned,0.01/20") == ("tuned", (0.01, 20))  # the topology's own timers


@pytest.mark.parametrize("text, message", [
    ("0.05", "is not ADVERT_S/INTER_MS"),
    ("x/100", "is not ADVERT_S/INTER_MS"),
    ("0.005/100", "advert_int must be 0.01-255 s in 10 ms steps"),
    ("0.015/100", "in 10 ms steps"),
    ("0.05/5", "inter must be at least 10 ms"),
    (" , ", "no setting given"),
])
def test_bad_ladders_are_refused_with_the_item_named(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ladder(text)


def test_loads_and_soak_are_checked():
    assert parse_loads("stress") == ("stress",)
    assert parse_loads("idle,stress,idle") == ("idle", "stress")
    with pytest.raises(ValueError, match="unknown load 'busy'"):
        parse_loads("idle,busy")
    assert parse_soak("600") == 600.0
    for bad in ("0", "nan", "99999"):
        with pytest.raises(ValueError):
            parse_soak(bad)


def test_every_setting_runs_under_every_load_in_ladder_order():
    assert cells(((1.0, 2000), "tuned"), ("idle", "stress")) == [
        ((1.0, 2000), "idle"), ((1.0, 2000), "stress"), ("tuned", "idle"), ("tuned", "stress")]
    assert TimerSweep.trial_count(3, None, {}) == 2 * len(LADDER)
    assert TimerSweep.trial_count(3, None, {"ladder": ((0.05, 100),), "loads": ("stress",)}) == 1


def test_a_setting_changes_only_the_timers_and_isolates_the_active_checks():
    topology = load_topology()
    timed = retimed(topology, 0.02, 50)
    assert timed.services.keepalived.advert_int == 0.02
    haproxy = timed.services.haproxy
    assert (haproxy.check_inter_ms, haproxy.fastinter_ms, haproxy.error_limit) == (50, None, 0)
    assert haproxy.check_budget_per_s is None  # the timer as set, whatever load it makes
    assert haproxy.fall == topology.services.haproxy.fall and haproxy.rise == topology.services.haproxy.rise
    assert timed.hosts == topology.hosts and timed.networks == topology.networks


def test_each_cell_gives_one_frontier_row_per_component():
    trial = {"advert_s": 0.05, "inter_ms": 100, "load": "stress", "lb_outage_ms": [150.0, None, 170.0],
             "vip_moves": 2, "server_detection_ms": [220.0], "servers_marked_down": 0, "soak_s": 30.0}
    keepalived, haproxy = settings_of([trial])
    assert (keepalived.component, keepalived.timer_ms, keepalived.load) == ("keepalived", 50.0, "stress")
    assert keepalived.failover_ms == [150.0, 170.0] and keepalived.spurious == 2
    assert (haproxy.component, haproxy.timer_ms, haproxy.median_ms, haproxy.spurious) == ("haproxy", 100.0, 220.0, 0)


def test_cpu_times_count_idle_and_iowait_as_idle_and_leave_guest_out():
    stat = "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4\n"
    busy, total = cpu_times(stat)
    assert total == 100 + 5 + 50 + 800 + 40 + 3 + 2 + 0
    assert busy == total - 840


def test_the_stressor_is_bounded_in_time_and_uses_every_core():
    argv = CpuStressor(None, "client1", 12.7, "x").argv()
    assert argv[:3] == ["stress-ng", "--cpu", "0"] and "--timeout" in argv and "12s" in argv
