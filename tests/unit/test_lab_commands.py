"""Every lab command is well formed, checked without root or a network: a shell line's
arguments pass topo/run.py's own checks (or fail them where the lab says `# exit 2`), and a CLI
session's lines are commands the CLI knows, with fault addresses the topology has. The labs
tier runs them all for real (tests/integration/test_labs.py)."""

import contextlib
import importlib
import io
import shlex

import pytest

from experiments.faults import catalogue
from experiments.registry import resolve
from hatestbed.cli import unknown_script_command
from hatestbed.main import experiment_options, parse_args
from tests.labs import LABS, REPO, blocks, shell_argv
from topo.errors import TestbedError
from topo.model import DEFAULT_TOPOLOGY, load_topology


def run_py_problem(args: list[str]) -> str | None:
    """What topo/run.py would refuse with exit 2 before starting anything (None: nothing)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            parsed = parse_args(args)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1]
    try:
        experiments = resolve(parsed.experiment) if parsed.experiment else None
        topology = load_topology(REPO / parsed.topology if parsed.topology else DEFAULT_TOPOLOGY)
        experiment_options(parsed, experiments, topology)
    except TestbedError as exc:
        return str(exc)
    return None


def session_problem(args: str, lines: list[str]) -> str | None:
    parsed = parse_args(shlex.split(args))
    topology = load_topology(REPO / parsed.topology if parsed.topology else DEFAULT_TOPOLOGY)
    unknown = unknown_script_command("\n".join(lines), topology)
    if unknown:
        return unknown
    addresses = {entry.address for entry in catalogue(topology)} | {"all"}
    for line in lines:
        words = line.split()
        if words[0] in ("fail", "heal") and (len(words) != 2 or words[1] not in addresses):
            return f"{line!r}: not a fault address of {topology.name} (see `faults`)"
    return None


def test_every_lab_has_commands_and_an_answer_key():
    assert len(LABS) == 5
    for lab in LABS:
        kinds = {kind for kind, _, _ in blocks(lab)}
        assert kinds == {"sh", "testbed"}, f"{lab.name}: both shell commands and a CLI session"
        assert (lab.parent / "answers" / lab.name).exists(), f"{lab.name}: no answer key"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_lab_command_is_one_the_testbed_accepts(lab):
    for kind, args, lines in blocks(lab):
        if kind == "testbed":
            assert session_problem(args, lines) is None, f"{lab.name}: {session_problem(args, lines)}"
            continue
        for line in lines:
            argv, expected = shell_argv(line)
            assert argv[1] == "topo/run.py", f"{lab.name}: {line}: only topo/run.py commands are checked"
            problem = run_py_problem(argv[2:])
            if expected == 2:
                assert problem, f"{lab.name}: {line}: the lab says exit 2, but topo/run.py accepts it"
            else:
                assert problem is None, f"{lab.name}: {line}: {problem}"


def test_the_check_finds_a_mistyped_command():
    """The checks above can fail: a misspelt experiment, flag or fault address is caught."""
    assert "unknown experiment" in run_py_problem(["--experiment", "lb_failure"])
    assert "unrecognized arguments" in run_py_problem(["--trails", "1"])
    assert "not a fault address" in session_problem("", ["fail node:lb9"])
    assert "unknown command" in session_problem("", ["stauts"])


def lab_commands(stem: str) -> list[list[str]]:
    """The topo/run.py arguments of each shell line of a lab."""
    [lab] = [lab for lab in LABS if lab.stem == stem]
    return [shell_argv(line)[0][2:] for kind, _, lines in blocks(lab) if kind == "sh" for line in lines]


# Studies whose run is a lab's own command (one run in the session serves both: the `topo_run`
# fixture): the command each asks for must still be the lab's, or the lab's would run twice.
SHARED_RUNS = {"test_capacity_weighting": "1-tour", "test_timer_sweep_live": "2-floating-ip",
               "test_spof_sweep": "5-spof-hunting"}


@pytest.mark.parametrize("module", sorted(SHARED_RUNS))
def test_a_study_sharing_a_labs_run_asks_for_the_labs_own_command(module):
    command = importlib.import_module(f"tests.integration.{module}").COMMAND
    assert command in lab_commands(SHARED_RUNS[module]), f"{module}: {command} is not {SHARED_RUNS[module]}'s"


def test_the_experiment_suite_runs_the_labs_own_commands():
    from tests.integration.test_experiment_suite import LABS as SUITE_LABS

    for stem, command in SUITE_LABS.items():
        assert command in lab_commands(stem), f"{command} is not {stem}'s"
