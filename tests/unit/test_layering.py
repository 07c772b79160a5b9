"""Imports go one way: topo/ (the model) ← runtime/ (processes, network, controller, observation)
← hosts/ (services) ← spof/ (analysis) ← experiments/ ← hatestbed/ (lifecycle).

Read from the source with the ast module, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# package → the project packages it may import (itself always allowed)
ALLOWED = {
    "controllers": set(),
    "topo": set(),
    "runtime": {"topo", "controllers"},
    "hosts": {"runtime", "topo", "controllers"},
    "spof": {"hosts", "runtime", "topo", "controllers"},
    "experiments": {"spof", "hosts", "runtime", "topo", "controllers"},
    "hatestbed": {"experiments", "spof", "hosts", "runtime", "topo", "controllers"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_every_package_imports_only_the_layers_below_it():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "topo" / "run.py":
                continue  # the entry point: above every layer, in topo/ because users know it there
            bad = imported_packages(path) - allowed - {package}
            if bad:
                wrong.append(f"{path.relative_to(REPO)} imports {', '.join(sorted(bad))}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_entry_point_is_a_thin_file():
    run = REPO / "topo" / "run.py"
    assert imported_packages(run) <= {"hatestbed"}
    assert len(run.read_text().splitlines()) < 50


# Modules that may signal a process directly, and why they are not the process owner's business.
DIRECT_SIGNALS = {
    "runtime/processes.py": "the process owner itself",
    "runtime/command.py": "kills a short command it ran itself when it outlives its timeout",
    "hatestbed/testbed.py": "kills the children of a busy Mininet shell at teardown (not testbed daemons)",
    "runtime/cluster.py": "kills the ssh it started when the remote side never gave a pid (nothing to record)",
    "runtime/simmachine.py": "ends a simulated machine by its recorded init and ssh master (pid + start time)",
}


def signal_calls(path: Path) -> set[str]:
    """Calls that stop a process: os.kill, os.killpg, <popen>.terminate/.kill/.send_signal."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("kill", "killpg", "terminate", "send_signal"):
                found.add(node.func.attr)
    return found


def test_only_the_process_owner_stops_processes():
    """TERM → wait → KILL is written once, in runtime/processes.py; everyone else asks it."""
    offenders = []
    for package in ALLOWED:
        for path in sorted((REPO / package).rglob("*.py")):
            name = str(path.relative_to(REPO))
            calls = signal_calls(path)
            if calls and name not in DIRECT_SIGNALS:
                offenders.append(f"{name}: {', '.join(sorted(calls))}")
    assert not offenders, offenders
