"""The process owner, on real processes in the root namespace (no root, no network needed)."""

from __future__ import annotations

import json
import sys
import time

import pytest

from runtime.processes import ProcessError, ProcessOwner, process_start_time, stop_all, stop_records, tail
from runtime.runstate import RunDir
from runtime.wait import NotReadyError


@pytest.fixture
def owner(tmp_path):
    return ProcessOwner(RunDir.create("procs", root=tmp_path))


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_started_process_is_recorded_before_anyone_waits_and_stopped_by_term(owner, tmp_path):
    proc = owner.start("sleeper", python("import time; print('up', flush=True); time.sleep(30)"),
                       log=tmp_path / "sleeper.log")
    [record] = owner.run_dir.processes()
    assert (record.name, record.pid, record.start) == ("sleeper", proc.pid, process_start_time(proc.pid))
    assert (owner.run_dir.path / "pids" / "sleeper.pid").read_text().strip() == str(proc.pid)
    proc.wait_ready(lambda: "up" in (tmp_path / "sleeper.log").read_text(), 10, "sleeper printing")
    assert proc.stop() == "stopped (SIGTERM)"
    assert not proc.running() and not record.alive()
    assert proc.stop() == "had exited"


def test_a_process_that_ignores_term_is_killed_after_the_grace(owner):
    proc = owner.start("stubborn", python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('x', flush=True); time.sleep(30)"))
    time.sleep(0.3)  # let it install its handler; stop() must not depend on this, the result does
    began = time.monotonic()
    assert proc.stop(grace=0.3) == "killed (SIGKILL)"
    assert time.monotonic() - began < 5
    assert proc.returncode == -9


def test_a_process_that_dies_before_ready_is_a_process_error_with_its_log(owner, tmp_path):
    proc = owner.start("crasher", python("import sys; print('bad config line 3'); sys.exit(3)"),
                       log=tmp_path / "crasher.log")
    with pytest.raises(ProcessError, match=r"crasher exited \(code 3\) before crasher ready; .*bad config line 3"):
        proc.wait_ready(lambda: False, 10, "crasher ready")


def test_readiness_has_a_deadline_that_names_the_log(owner, tmp_path):
    proc = owner.start("slow", python("import time; time.sleep(30)"), log=tmp_path / "slow.log")
    with pytest.raises(NotReadyError, match=r"slow ready did not happen within 0.2 s; see .*slow.log"):
        proc.wait_ready(lambda: False, 0.2, "slow ready")
    proc.stop()


def test_a_group_record_stops_the_workers_too(owner, tmp_path):
    pidfile = tmp_path / "worker.pid"
    proc = owner.start("master", python(
        "import subprocess, sys, time; w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
        f"open({str(pidfile)!r}, 'w').write(str(w.pid)); time.sleep(30)"), group=True)
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    worker = int(pidfile.read_text())
    assert process_start_time(worker) is not None
    proc.stop()
    deadline = time.monotonic() + 5
    while process_start_time(worker) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_start_time(worker) is None


def test_stop_all_shares_one_deadline(owner):
    procs = [owner.start(f"p{i}", python("import time; time.sleep(30)")) for i in range(3)]
    began = time.monotonic()
    stop_all(procs, grace=2)
    assert time.monotonic() - began < 2 and not any(p.running() for p in procs)


def test_records_of_a_crashed_run_are_stopped_only_while_pid_and_start_time_match(owner):
    proc = owner.start("orphan", python("import time; time.sleep(30)"))
    [record] = owner.run_dir.processes()
    assert stop_records([record]) == [record]
    proc.wait(5)
    assert not record.alive()
    lines = [json.loads(line) for line in (owner.run_dir.path / "owned.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "process" and lines[0]["pid"] == proc.pid
    assert stop_records([record]) == []  # gone: nothing is signalled


def test_tail_of_a_missing_log():
    assert tail(None) == "(no log)"
    assert tail("/nonexistent/log") == "(no log)"
