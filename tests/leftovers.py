"""What a stopped run must not leave behind: its recorded processes, its bridges, its interfaces.

Shared by the tests that start topo/run.py as a process (test_lifecycle.py, test_variants.py)."""

from topo.model import load_topology
from topo.plan import plan_network
from runtime.runstate import RunDir, interface_exists, list_bridges, run_dirs


def latest_run(run_root) -> RunDir:
    return run_dirs(run_root)[-1]


def assert_nothing_left(run: RunDir, topology=None) -> None:
    """Nothing of `run` (on `topology`, the default when None) is left running or in OVS."""
    plan = plan_network(topology or load_topology())
    alive = [p for p in run.processes() if p.alive()]
    assert not alive, f"testbed processes still running: {alive}"
    assert not set(plan.topology.switches) & set(list_bridges())
    left = [name for name in plan.root_namespace_interfaces() if interface_exists(name)]
    assert not left, f"interfaces left behind: {left}"
