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


# -- the sample: cut-set pairs, and control pairs the model calls harmless -------------------------
def test_a_full_sweep_tries_control_pairs_the_model_calls_harmless():
    from experiments.spof_sweep import CONTROL_PAIRS, plan_for
    from spof.analysis import analyze
    from spof.model import Design
    from topo.model import load_topology

    topology = load_topology()
    plan = plan_for(topology, None, seed=1)
    cut_pairs = {tuple(sorted(c.components)) for c in analyze(topology).cut_sets}
    controls = [p for p in plan if len(p) == 2 and p not in cut_pairs]
    assert len(controls) == CONTROL_PAIRS
    design = Design(topology)
    for pair in controls:  # harmless by the model: every service up, none partial
        assert all(o.up and not o.partial for o in design.evaluate(set(pair)).values()), pair
    assert plan_for(topology, None, seed=1) == plan  # seeded
    assert {p for p in plan_for(topology, None, seed=2) if len(p) == 2} != set(p for p in plan if len(p) == 2)
    # A listed fault set is tried as listed: no controls added.
    listed = plan_for(topology, ("node:lb1", "node:lb2", "node:s3"), seed=1)
    assert [p for p in listed if len(p) == 2 and p not in cut_pairs] == []


def test_spofs_are_counted_as_components_singles_and_pairs_apart(tmp_path):
    from experiments.spof_sweep import SpofSweep
    from spof.model import Design
    from topo.model import load_topology

    sweep = SpofSweep.__new__(SpofSweep)
    sweep.out_dir = tmp_path
    sweep.design = Design(load_topology())
    sweep.plan = (("node:lb1",), ("node:s3",), ("node:lb1", "node:lb2"), ("node:server1", "daemon:nginx@server2"))

    def trial(faults, down, predicted, partial=(), predicted_partial=""):
        services = {s: {"down": s in down, "predicted_down": s in predicted,
                        "predicted_partial": predicted_partial if s in partial or predicted_partial else "",
                        **({"partial_for": ["client1"]} if s in partial else {})} for s in ("web", "read", "write")}
        return {"faults": list(faults), "observed_down": sorted(down), "predicted_down": sorted(predicted),
                "observed_partial": sorted(partial), "services": services,
                "disagreements": sorted(set(down) ^ set(predicted))}

    summary = sweep.summarize([
        trial(("node:lb1",), down={"web", "read", "write"}, predicted={"web", "read", "write"}),  # 3 rows, 1 component
        trial(("node:s3",), down=set(), predicted=set(), partial={"web"}),  # partial where fully up was foreseen
        trial(("node:lb1", "node:lb2"), down={"web"}, predicted={"web", "read"}),  # a pair disagreeing
        trial(("node:server1", "daemon:nginx@server2"), down=set(), predicted=set()),  # a control pair, up
    ])
    assert summary["single_faults"] == 2 and summary["pair_faults"] == 2 and summary["control_pairs"] == 1
    assert summary["spof_components_observed"] == 1 and summary["spof_component_list"] == ["node:lb1"]
    assert summary["observed_spof_rows"] == 4  # (fault set, service) rows: what "SPOFs" used to count
    assert summary["disagreements"] == 1 and summary["pair_disagreements"] == 1
    assert summary["partial_disagreements"] == 1 and summary["partial_outages"] == 1
    assert (tmp_path / "sweep.md").exists()
