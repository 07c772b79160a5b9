"""How the SPOF sweep judges one client's requests in a hold, and words a "down" (pure parts)."""

from experiments.probes import Request
from experiments.spof_sweep import HOLD_S, LAST_S, judge_window, why_down

FAULT = 100.0
HOLD_END = FAULT + HOLD_S
RECOVER = HOLD_END + 0.2
JUDGED = int(round(LAST_S / 0.1))  # requests 0.1 s apart in the judged window


def stream(pattern: str, start=HOLD_END - LAST_S, step=0.1) -> list[Request]:
    """'o' served, 'x' failed, one every `step` s from `start` (the hold's judged end by default)."""
    return [Request(i, start + i * step, start + i * step + 0.01, 200 if c == "o" else 0, "" if c == "o" else "tls")
            for i, c in enumerate(pattern)]


def test_nothing_served_in_the_judged_end_of_the_hold_is_down():
    judged = judge_window(stream("x" * JUDGED), FAULT, HOLD_END, RECOVER)
    assert judged["down_at_end"] and not judged["partial"] and judged["ok_judged"] == 0


def test_a_split_brain_that_serves_some_requests_is_up_but_partial():
    judged = judge_window(stream(("ox" * JUDGED)[:JUDGED]), FAULT, HOLD_END, RECOVER)
    assert not judged["down_at_end"] and judged["partial"]
    assert (judged["ok_judged"], judged["requests_judged"]) == ((JUDGED + 1) // 2, JUDGED)


def test_one_failure_in_ten_is_neither_down_nor_partial():
    judged = judge_window(stream("o" * 9 + "x" + "o" * (JUDGED - 10)), FAULT, HOLD_END, RECOVER)
    assert (judged["ok_judged"], judged["requests_judged"]) == (JUDGED - 1, JUDGED)
    assert not judged["down_at_end"] and not judged["partial"]


def test_a_success_that_completes_only_after_recovery_began_belongs_to_the_recovery():
    late = [Request(0, HOLD_END - 0.5, RECOVER + 0.5, 200)]
    assert judge_window(late, FAULT, HOLD_END, RECOVER)["down_at_end"]


def test_a_down_is_worded_by_whom_it_failed_or_what_monitoring_missed():
    assert why_down({"down_for": ["client1"]}) == "client1"
    assert why_down({"blind": [], "crashed_without_alert": ["server1"], "rule_problems": []}) == "no alert for server1"
    assert why_down({"rule_problems": ["rule group hatestbed last evaluated 9.0 s ago", "x"]}) == \
        "rule group hatestbed last evaluated 9.0 s ago"
    assert why_down({}) == ""
