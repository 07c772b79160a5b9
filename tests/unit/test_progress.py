"""Progress as the person watching sees it: plain lines in a pipe, rich bars on a terminal."""

import io

from rich.console import Console

from hatestbed.progress import LiveProgress, PlainProgress, clock, make_progress


def test_plain_lines_name_the_trial_and_estimate_the_time_left(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("hatestbed.progress.time.monotonic", lambda: now[0])
    out = io.StringIO()
    progress = PlainProgress(out)
    progress.phase("network_built", 1.24)
    progress.suite_started(4)
    progress.trial_started("lb_failover", "tuned", 1, 2)
    now[0] += 30
    progress.trial_done()
    progress.trial_started("lb_failover", "tuned", 2, 2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "bring-up: network built at 1.2 s"
    assert lines[1] == "[1/4] lb_failover (tuned) trial 1/2 · 0:00 elapsed"
    assert lines[2] == "[2/4] lb_failover (tuned) trial 2/2 · 0:30 elapsed, about 1:30 left"
    assert "\x1b[" not in out.getvalue()  # nothing redrawn, no escape codes


def test_a_pipe_gets_plain_progress():
    assert isinstance(make_progress(io.StringIO()), PlainProgress)
    assert clock(3725) == "1:02:05"


def test_the_live_display_runs_only_while_something_is_under_way():
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=True, width=100))
    progress.bringup_started()
    progress.phase("controller_listening", 0.4)
    assert progress.bars.live.is_started
    progress.bringup_done()
    assert not progress.bars.live.is_started  # the CLI prompt that follows is not drawn over
    progress.suite_started(2)
    progress.trial_started("server_failover", "stock", 1, 1)
    progress.bars.refresh()
    progress.trial_done()
    progress.suite_done()
    assert not progress.bars.live.is_started
    shown = out.getvalue()
    assert "server_failover (stock) trial 1/1" in shown
    assert "experiments: done" in shown and "1/2" in shown
