"""Run-directory records: what was created is what gets removed, and nothing else."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.processes import process_start_time
from runtime import runstate
from runtime.runstate import RunDir, active_runs, clean_stale, parse_bridge_tags, run_dirs


@pytest.fixture
def sleeper():
    procs = []

    def start(*extra):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *extra])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_start_time_identifies_a_process(sleeper):
    proc = sleeper()
    assert process_start_time(proc.pid) is not None
    proc.kill()
    proc.wait()
    assert process_start_time(proc.pid) is None


def test_remove_owned_stops_recorded_processes_only(tmp_path, sleeper):
    run = RunDir.create("unit", tmp_path)
    ours, theirs = sleeper(), sleeper()
    run.record_process("ours", ours.pid)
    assert (run.path / "pids" / "ours.pid").read_text().strip() == str(ours.pid)
    removed = run.remove_owned(grace=2)
    assert removed == [f"process ours (pid {ours.pid})"]
    assert ours.wait(timeout=2) == -signal.SIGTERM
    assert theirs.poll() is None


def test_a_recycled_pid_is_not_signalled(tmp_path, sleeper):
    run = RunDir.create("unit", tmp_path)
    other = sleeper()
    # A record whose start time does not match is some other process that reused the pid.
    with open(run.path / "owned.jsonl", "a") as f:
        f.write(json.dumps({"kind": "process", "name": "ghost", "pid": other.pid, "start": 1}) + "\n")
    assert run.remove_owned(grace=0.1) == []
    assert other.poll() is None


def test_torn_last_line_is_ignored(tmp_path):
    run = RunDir.create("unit", tmp_path)
    run.record_interfaces(["zz-test-eth0"])
    with open(run.path / "owned.jsonl", "a") as f:
        f.write('{"kind": "proc')
    assert [r["name"] for r in run.records("interface")] == ["zz-test-eth0"]
    assert run.processes() == []


def test_clean_stale_skips_active_runs_and_marks_dead_ones(tmp_path, sleeper, monkeypatch):
    # Only the runs under tmp_path: the machine's OVS may hold bridges a crashed run elsewhere
    # left (a CI run once met those of a testbed killed mid-suite on the same machine).
    monkeypatch.setattr(runstate, "tagged_bridges", dict)
    mine = RunDir.create("active", tmp_path)  # owned by this (live) test process
    dead = RunDir.create("crashed", tmp_path)
    owner = sleeper()
    victim = sleeper()
    (dead.path / "owner.json").write_text(json.dumps(
        {"pid": owner.pid, "start": process_start_time(owner.pid)}))
    dead.record_process("daemon", victim.pid)
    # While its owner lives, the run is active and untouchable.
    assert [r.path for r in active_runs(tmp_path)] == [mine.path, dead.path]
    assert clean_stale(tmp_path) == []
    owner.kill()
    owner.wait()
    assert clean_stale(tmp_path) == [f"{dead.path.name}: process daemon (pid {victim.pid})"]
    assert victim.wait(timeout=2) == -signal.SIGTERM
    assert dead.state == "cleaned" and mine.state == "running"
    assert clean_stale(tmp_path) == []


def test_latest_link_and_pruning(tmp_path):
    runs = [RunDir.create(f"r{i}", tmp_path) for i in range(3)]
    assert (tmp_path / "latest").resolve() == runs[-1].path
    assert len(run_dirs(tmp_path)) == 3


def test_bridge_tags_are_read_from_ovsdb_json():
    # The shape `ovs-vsctl --format=json --columns=name,external_ids list Bridge` prints.
    listing = json.dumps({"headings": ["name", "external_ids"], "data": [
        ["s1", ["map", [["hatestbed-run", "/run/hatestbed/20261124T101500.000000Z-seed"]]]],
        ["br-user", ["map", [["owner", "someone else"]]]],
        ["s2", ["map", []]],
    ]})
    assert parse_bridge_tags(listing) == {"s1": Path("/run/hatestbed/20261124T101500.000000Z-seed")}


def test_bridges_tagged_by_a_dead_run_elsewhere_are_removed_and_an_active_runs_kept(
        tmp_path, monkeypatch):
    live = RunDir.create("live", tmp_path / "other-root")  # owned by this test process
    gone = tmp_path / "emptied-by-a-reboot" / "20261124T101500.000000Z-seed"  # no records left
    monkeypatch.setattr(runstate, "tagged_bridges",
                        lambda: {"s1": gone, "s2": gone, "s9": live.path})
    monkeypatch.setattr(runstate, "list_bridges", lambda: ["s1", "s2", "s9", "br-user"])
    asked = []
    monkeypatch.setattr(runstate, "remove_bridges",
                        lambda bridges: asked.append(bridges) or [f"bridge {b}" for b in bridges])
    assert clean_stale(tmp_path / "run-root") == [f"{gone.name}: bridge s1", f"{gone.name}: bridge s2"]
    assert asked == [["s1", "s2"]]
