"""A split placement's crashes, topo/run.py as a process (the network only: crashes are about
records, not daemons): after kill -9, the next run's preflight removes the crashed run's
processes, bridges and interfaces on the other machine by their records (the machine itself
stays, reused), and --clean leaves nothing on either machine, the simulated machine included.
(--smoke with the daemons on two machines: test_machines.py, on the shared testbed.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtime.runstate import interface_exists, list_bridges
from runtime.simmachine import netns_name, simulated_machines, underlay_names
from tests.integration.test_lifecycle import crash_a_run
from topo.model import load_topology
from tests.leftovers import assert_nothing_left

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("free_machine")]

REPO = Path(__file__).resolve().parents[2]
TWO = REPO / "topo" / "examples" / "two-machines.yaml"


def bare_split(tmp_path) -> Path:
    """The two-machine network with no daemons: the crashed runs need the machines, not the site."""
    data = yaml.safe_load(TWO.read_text())
    data["services"] = {"enabled": False}
    path = tmp_path / "bare-split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def m2():
    [machine] = [m for m in simulated_machines() if m.name == "m2"]
    return machine


def test_the_next_run_removes_a_crashed_runs_part_on_the_other_machine(run_py, run_root, tmp_path):
    bare = bare_split(tmp_path)
    crashed = crash_a_run(run_root, tmp_path, "--topology", str(bare))
    remote = [p for p in crashed.processes() if p.machine is not None and p.alive()]
    assert {p.name for p in remote} >= {"client2-shell", "s2-shell"}
    assert m2().machine.run(["ovs-vsctl", "list-br"]).stdout.split() == ["s2", "s4"]
    init = m2()._record()["init"]
    result = run_py("--smoke", "--topology", str(bare), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    # Its preflight removed the crashed run's m2 part by its records, and reused the machine.
    assert f"cleaned stale {crashed.path.name}: m2: bridge s2" in result.stdout
    assert not [p for p in remote if p.alive()]
    assert m2()._record()["init"] == init


def test_clean_after_kill_9_leaves_nothing_on_either_machine(run_root, tmp_path):
    crashed = crash_a_run(run_root, tmp_path, "--topology", str(bare_split(tmp_path)))
    machine = m2()
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root))
    result = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--clean"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # First the run's records on both machines, then the simulated machine itself.
    lines = result.stdout.splitlines()
    assert f"removed {crashed.path.name}: m2: bridge s4" in lines
    assert f"removed {crashed.path.name}: bridge s1" in lines
    machine_gone = next(i for i, line in enumerate(lines) if line.startswith("removed machine m2: process init"))
    assert lines.index(f"removed {crashed.path.name}: m2: bridge s4") < machine_gone
    assert_nothing_left(crashed, load_topology(TWO))  # the local side, and every process record on either machine
    assert not Path("/run/netns", netns_name("m2")).exists()
    assert not any(interface_exists(name) for name in underlay_names("m2"))
    assert not machine.running() and not machine.dir.exists()
    assert not {"s2", "s4"} & set(list_bridges())
