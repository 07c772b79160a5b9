"""topo/run.py as a process of its own, as a user runs it: bad input, teardown on SIGTERM,
and --clean after kill -9. (Its --script mode and a dropped-in experiment run in this process
on the shared testbed: test_cli_script.py, test_experiment_suite.py.)"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from topo.model import load_topology
from topo.plan import plan_network
from runtime.runstate import RunDir, interface_exists, list_bridges, run_dirs
from tests.leftovers import assert_nothing_left, latest_run

# Each test starts topo/run.py itself: no shared testbed may be running (one per machine).
pytestmark = [pytest.mark.root, pytest.mark.usefixtures("free_machine")]

REPO = Path(__file__).resolve().parents[2]
PLAN = plan_network(load_topology())
BRIDGES = set(PLAN.topology.switches)


def test_bad_topology_is_one_line_exit_2_and_starts_nothing(run_py, run_root, tmp_path):
    before = len(run_dirs(run_root))
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "topo" / "default.yaml").read_text().replace("role: lb", "role: balancer", 1))
    result = run_py("--topology", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{bad}: hosts.lb1.role: Input should be" in result.stderr
    assert len(run_dirs(run_root)) == before
    assert not BRIDGES & set(list_bridges())


def test_missing_script_file_is_exit_2(run_py, tmp_path):
    result = run_py("--script", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such file" in result.stderr


def bare_topology(tmp_path) -> Path:
    """The default network with no daemons: for tests about bridges, records and cleanup, which
    need the network and none of the 13 s the services take to come up."""
    path = tmp_path / "bare.yaml"
    data = yaml.safe_load((REPO / "topo" / "default.yaml").read_text())
    data["services"] = {"enabled": False}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_holding_run(run_root, tmp_path, *args: str) -> subprocess.Popen:
    """topo/run.py [ARGS] holding the network up (a script whose command lasts a minute), once it is up."""
    script = tmp_path / "hold"
    script.write_text("client1 sleep 60\n")
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root))
    proc = subprocess.Popen([sys.executable, str(REPO / "topo" / "run.py"), "--script", str(script), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("testbed up in") or time.monotonic() > deadline:
            break
    if not printed[-1:] or not printed[-1].startswith("testbed up in"):
        proc.kill()
        proc.wait()
        pytest.fail("the run did not come up:\n" + "".join(printed))
    return proc


def crash_a_run(run_root, tmp_path, *args: str) -> RunDir:
    """Start a run that holds the network up, kill -9 its topo/run.py, return its run directory."""
    proc = start_holding_run(run_root, tmp_path, *args)
    proc.kill()
    proc.wait()
    return latest_run(run_root)


def test_clean_after_kill_9_removes_everything_recorded(run_root, tmp_path):
    run = crash_a_run(run_root, tmp_path)
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root))
    # The crashed run left its host shells, controller, bridges and interfaces behind ...
    assert any(p.alive() for p in run.processes())
    assert BRIDGES <= set(list_bridges())
    # ... and --clean removes exactly those.
    result = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--clean"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout and "bridge s1" in result.stdout
    assert run.state == "cleaned"
    assert_nothing_left(run)
    again = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--clean"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "nothing to clean" in again.stdout


def test_sigterm_tears_down(run_root, tmp_path):
    # The bare network: the signal's path to the teardown is the point. The daemons' teardown by
    # a run of its own is checked by test_variants.py (--smoke) and above (--clean after kill -9).
    proc = start_holding_run(run_root, tmp_path, "--topology", str(bare_topology(tmp_path)))
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root))
    try:
        # At once: the signal may land while the CLI is still handing `sleep 60` to client1.
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:  # do not leave a hung run holding the controller port
            proc.kill()
            proc.wait()
            subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--clean"], env=env, timeout=60)
    assert proc.returncode == 143, rest
    assert "testbed down in" in rest
    run = latest_run(run_root)
    assert run.state == "stopped"
    assert_nothing_left(run)


def test_a_crashed_run_under_another_run_root_does_not_block_the_next(run_py, tmp_path_factory, tmp_path):
    # As when an earlier test session (its own temporary run root) was killed mid-run.
    bare = bare_topology(tmp_path)
    crashed = crash_a_run(tmp_path_factory.mktemp("other"), tmp_path, "--topology", str(bare))
    assert BRIDGES <= set(list_bridges())
    result = run_py("--smoke", "--topology", str(bare))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"cleaned stale {crashed.path.name}: bridge s1" in result.stdout
    assert crashed.state == "cleaned"
    assert not [p for p in crashed.processes() if p.alive()]


def test_bridges_of_a_run_whose_records_are_gone_are_found_by_their_tag(run_root, tmp_path_factory, tmp_path):
    # As after a restart: every process died and /run was emptied, but OVSDB kept the bridges.
    crashed = crash_a_run(tmp_path_factory.mktemp("emptied"), tmp_path, "--topology", str(bare_topology(tmp_path)))
    for proc in crashed.processes():
        if proc.alive():
            proc.send(signal.SIGKILL)
    shutil.rmtree(crashed.path)
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root))
    result = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--clean"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"removed {crashed.path.name}: bridge s1" in result.stdout
    assert not BRIDGES & set(list_bridges())
    left = [name for name in PLAN.root_namespace_interfaces() if interface_exists(name)]
    assert not left, f"interfaces left behind: {left}"


def test_an_untagged_bridge_with_a_testbed_name_is_refused_and_left_alone(run_py):
    subprocess.run(["ovs-vsctl", "add-br", "s1", "--", "set", "bridge", "s1", "datapath_type=netdev"], check=True)
    try:
        result = run_py("--smoke")
        assert result.returncode == 1
        assert "an OVS bridge named 's1' exists and is not the testbed's" in result.stderr
        assert "s1" in list_bridges()
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", "s1"], check=True)


def test_a_run_root_too_long_for_unix_sockets_is_refused_before_anything_starts(tmp_path):
    root = tmp_path / ("r" * 60)
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(root))
    result = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--smoke"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "longer than 107 bytes; use a shorter run root (HATESTBED_RUN_ROOT)" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not root.exists()
    assert not BRIDGES & set(list_bridges())
