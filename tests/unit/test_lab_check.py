"""`lab check`: each step graded against the session's own journals, never a fixed number. The
journals here are written by the test (a VRRP notify line, an HAProxy log line, probe rows), as
the daemons and probes write them in a run."""

import csv
import json
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from experiments.probe_client import FIELDS
from hatestbed.faultboard import FaultBoard
from hatestbed.labs.book import LabBook
from hatestbed.labs.grade import LabInputError, check_lines, grade, parse_value, step_of
from hatestbed.labs.session import Session
from hatestbed.testbed import Testbed
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import load_topology

T0 = 1_700_000_000.0


@pytest.fixture
def session(tmp_path, monkeypatch):
    tb = Testbed(load_topology())
    tb.site = Site(tb.plan, tmp_path)
    tb.services = ServiceManager(tb.site, daemons_for(tb.site))  # HAProxy's log is its daemon's
    tb.run_dir = SimpleNamespace(path=tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "probes").mkdir()
    board = FaultBoard(tb)
    board.started = T0
    monkeypatch.setattr("hatestbed.labs.session.Session.now", lambda self: T0 + 100)
    return Session(tb, board)


def fault(session, address, start, end=None):
    session.board.history.append({"t": start, "action": "fail", "address": address, "by": "page"})
    if end is not None:
        session.board.history.append({"t": end, "action": "heal", "address": address, "by": "page"})


def vrrp(session, *records):
    with open(session.testbed.site.vrrp_events, "a") as f:
        for t, host, state in records:
            f.write(json.dumps({"t": t, "host": host, "state": state}) + "\n")


def probe(session, name, rows):
    with open(session.testbed.run_dir.path / "probes" / f"{name}.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(FIELDS)
        for seq, (sent, server) in enumerate(rows):
            out.writerow([seq, sent, sent + 0.01, 200 if server else 0, "" if server else "timeout", server, ""])


def book(tmp_path, *records):
    lab_book = LabBook(tmp_path / "book.jsonl", since=T0)
    for lab, key, kind, value, t in records:
        with open(lab_book.path, "a") as f:
            f.write(json.dumps({"t": t, "lab": lab, "key": key, "kind": kind, "value": value}) + "\n")
    return lab_book


def states(verdicts):
    return {v.key: v.state for v in verdicts}


def test_lab2_is_graded_on_the_failover_this_session_saw(session, tmp_path):
    fault(session, "node:lb1", T0 + 10, T0 + 20)
    vrrp(session, (T0 + 10.054, "lb2", "MASTER"), (T0 + 21.0, "lb1", "BACKUP"))
    probe(session, "dashboard-1-1", [(T0 + 9.95 + i * 0.05, "" if i in (2, 3) else "server1") for i in range(60)])
    answers = book(tmp_path, (2, "vip-move-ms", "predict", "100", T0 + 5), (2, "vip-move-ms", "answer", "60", T0 + 30),
                   (2, "failback", "answer", "yes", T0 + 30), (2, "lost-requests", "answer", "2", T0 + 30))
    verdicts = grade(2, session, answers)
    assert states(verdicts) == {"vip-move-ms": "done", "failback": "wrong", "lost-requests": "done"}
    [move, back, _] = verdicts
    assert "54 ms" in move.text and "you predicted 100 ms; the testbed measured 54 ms" == move.prediction
    assert "the testbed measured no" in back.text
    assert check_lines(2, verdicts)[0] == "lab 2 (the floating IP): 2 of 3 steps done"


def test_a_step_not_yet_done_says_what_to_do_and_a_late_prediction_is_marked(session, tmp_path):
    answers = book(tmp_path, (3, "detect-ms", "predict", "100", T0 + 50))
    verdicts = grade(3, session, answers)
    assert states(verdicts) == {"detect-ms": "to do", "backup-answers": "to do"}
    assert "fail node:server1" in verdicts[0].text
    fault(session, "node:server1", T0 + 10, T0 + 20)
    (session.testbed.site.log("lb1", "haproxy")).write_text(
        datetime.fromtimestamp(T0 + 10.111, timezone.utc).isoformat() + " Server servers/server1 is DOWN, reason: x\n")
    [detect, _] = grade(3, session, answers)
    assert detect.state == "measured" and "lab answer 3 detect-ms VALUE" in detect.text
    assert "recorded after the event: not a prediction" in detect.prediction


def test_the_passive_server_share_and_the_site_down_verdict_come_from_the_probe_rows(session, tmp_path):
    probe(session, "cli-dist-1", [(T0 + 1 + i * 0.1, "server1" if i % 2 else "server2") for i in range(100)])
    [holder, share] = grade(1, session, book(tmp_path, (1, "backup-share", "answer", "0", T0 + 30)))
    assert share.state == "done" and "100 requests with every server up" in share.text
    fault(session, "node:s5", T0 + 20, T0 + 30)
    probe(session, "dashboard-2-1", [(T0 + 21 + i * 0.5, "server1") for i in range(10)])
    [down] = grade(5, session, book(tmp_path, (5, "site-down", "answer", "yes", T0 + 40)))
    assert down.state == "wrong" and "10 of 10 requests answered while node:s5 was broken" in down.text


def test_values_are_checked_for_the_steps_kind():
    assert parse_value(step_of(2, "vip-move-ms"), " 52ms ") == "52"
    assert parse_value(step_of(2, "failback"), "No") == "no"
    for lab, key, value, why in ((2, "vip-move-ms", "fast", "not a number"), (2, "failback", "maybe", "yes or no"),
                                 (2, "lost-requests", "-1", "negative")):
        with pytest.raises(LabInputError, match=why):
            parse_value(step_of(lab, key), value)
    with pytest.raises(LabInputError, match="no lab 9"):
        step_of(9, "x")
    with pytest.raises(LabInputError, match=r"lab 2 has no step 'x' \(steps: vip-move-ms, failback, lost-requests\)"):
        step_of(2, "x")


def test_records_of_an_earlier_session_are_not_this_sessions(tmp_path):
    lab_book = book(tmp_path, (2, "failback", "answer", "no", T0 - 5))
    assert lab_book.latest(2, "failback", "answer") is None
    lab_book.record(2, "failback", "answer", "yes")
    assert lab_book.latest(2, "failback", "answer")["value"] == "yes" and time.time() > T0
