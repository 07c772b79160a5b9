"""scripts/bench_scale.py's pure parts: sizes from the command line, bad input refused with one
line and exit code 2 before anything starts (no root, no network)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from topo.errors import BadInputError
from topo.model import load_topology

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_sizes_are_the_default_then_three_grown_ones(bench):
    sizes = bench.plan_sizes(load_topology(), bench.DEFAULT_SERVERS, None)
    counts = [(len(t.hosts_with_role("server")), len(t.hosts_with_role("client"))) for t in sizes]
    assert counts == [(3, 2), (12, 4), (24, 8), (48, 16)]
    assert sizes[0] == load_topology()


def test_clients_can_be_fixed_for_every_size(bench):
    sizes = bench.plan_sizes(load_topology(), "3,48", "16")
    assert [len(t.hosts_with_role("client")) for t in sizes] == [16, 16]


@pytest.mark.parametrize("servers,clients", [("0", None), ("1", None), ("x", None), ("3,,12", None),
                                             ("3", "0"), ("3", "2,4"), ("400", None)])
def test_bad_counts_are_bad_input(bench, servers, clients):
    with pytest.raises(BadInputError):
        bench.plan_sizes(load_topology(), servers, clients)


@pytest.mark.parametrize("args", [["--servers", "0"], ["--servers", "x"]])
def test_bad_input_is_one_line_and_exit_code_2(args):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("bench_scale.py: error: --servers: ")


def test_every_size_runs_once_per_database_mode_asked(bench):
    sizes = bench.plan_sizes(load_topology(), "3,12", None)
    assert bench.in_modes(sizes, None) == sizes
    both = bench.in_modes(sizes, "galera,async")
    assert [(t.services.mariadb.mode, len(t.hosts_with_role("server"))) for t in both] == [
        ("galera", 3), ("galera", 12), ("async", 3), ("async", 12)]
    with pytest.raises(BadInputError, match="--modes: unknown database mode 'raft'"):
        bench.in_modes(sizes, "raft")


def test_the_database_tier_stays_three_nodes_unless_asked(bench):
    def nodes(text):
        return [len(t.services.mariadb.nodes or t.hosts_with_role("server"))
                for t in bench.plan_sizes(load_topology(), "3,12,48", None, text)]
    assert nodes(None) == [3, 3, 3]
    assert nodes("all") == [3, 12, 48]
    assert nodes("5") == [3, 5, 5]
    for bad in ("0", "x", "3,5"):
        with pytest.raises(BadInputError, match="--db-nodes"):
            bench.plan_sizes(load_topology(), "3,12", None, bad)
