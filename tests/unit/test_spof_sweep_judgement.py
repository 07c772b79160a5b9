"""How the SPOF sweep judges one client's requests in a hold, and words a "down" (pure parts)."""

from experiments.probes import Request
import pytest

from experiments.spof_sweep import HOLD_S, LAST_S, InconclusiveError, judge_window, why_down

FAULT = 100.0
HOLD_END = FAULT + HOLD_S
RECOVER = HOLD_END + 0.2
JUDGED = int(round(LAST_S / 0.1))  # requests 0.1 s apart in the judged window


def stream(pattern: str, start=HOLD_END - LAST_S, step=0.1) -> list[Request]:
    """'o' served, 'x' failed, one every `step` s from `start` (the hold's judged end by default)."""
    return [Request(i, start + i * step, start + i * step + 0.01, 200 if c == "o" else 0, "" if c == "o" else "tls")
            for i, c in enumerate(pattern)]


def test_nothing_served_in_the_judged_end_of_the_hold_is_down():
    judged = judge_window(stream("x" * JUDGED), FAULT, HOLD_END, RECOVER, 0.1)
    assert judged["down_at_end"] and not judged["partial"] and judged["ok_judged"] == 0


def test_a_split_brain_that_serves_some_requests_is_up_but_partial():
    judged = judge_window(stream(("ox" * JUDGED)[:JUDGED]), FAULT, HOLD_END, RECOVER, 0.1)
    assert not judged["down_at_end"] and judged["partial"]
    assert (judged["ok_judged"], judged["requests_judged"]) == ((JUDGED + 1) // 2, JUDGED)


def test_one_failure_in_ten_is_neither_down_nor_partial():
    judged = judge_window(stream("o" * 9 + "x" + "o" * (JUDGED - 10)), FAULT, HOLD_END, RECOVER, 0.1)
    assert (judged["ok_judged"], judged["requests_judged"]) == (JUDGED - 1, JUDGED)
    assert not judged["down_at_end"] and not judged["partial"]


def test_a_success_that_completes_only_after_recovery_began_belongs_to_the_recovery():
    late = stream("x" * JUDGED)
    late[0] = Request(0, late[0].sent, RECOVER + 0.5, 200)  # served, but only once recovery began
    assert judge_window(late, FAULT, HOLD_END, RECOVER, 0.1)["down_at_end"]


def test_a_down_is_worded_by_whom_it_failed_or_what_monitoring_missed():
    assert why_down({"down_for": ["client1"]}) == "client1"
    assert why_down({"blind": [], "crashed_without_alert": ["server1"], "rule_problems": []}) == "no alert for server1"
    assert why_down({"rule_problems": ["rule group hatestbed last evaluated 9.0 s ago", "x"]}) == \
        "rule group hatestbed last evaluated 9.0 s ago"
    assert why_down({}) == ""


def test_an_empty_window_is_inconclusive_never_up():
    """A probe that died saw nothing: that is an error, not a service that stayed up."""
    with pytest.raises(InconclusiveError, match="0 requests"):
        judge_window([], FAULT, HOLD_END, RECOVER, 0.1)


def test_a_window_with_under_half_the_scheduled_requests_is_inconclusive():
    few = stream("o" * (JUDGED // 2 - 1))
    with pytest.raises(InconclusiveError, match="nothing to judge"):
        judge_window(few, FAULT, HOLD_END, RECOVER, 0.1)
    assert not judge_window(stream("o" * (JUDGED // 2)), FAULT, HOLD_END, RECOVER, 0.1)["down_at_end"]
