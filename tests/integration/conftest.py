"""Live tiers: a real Mininet network on userspace Open vSwitch under the os-ken controller.

Every module here is marked `root`, and one of the tiers `live`, `labs` or `studies` (tests/conftest.py
prints a summary line per tier). Testbeds come from one session-wide provider
(hatestbed/provider.py): a module asks for the topology it needs with `acquired(...)`, and the
testbed the module before it left running is reused when it matches, retimed when only daemon
settings differ, rebuilt otherwise. A module whose test failed hands its testbed back dirty,
so the next module gets a fresh one. Run records go to a temporary run root, so a user's own
runs are never touched.

    session:  provider ─┬─ test_services      acquire(default) → up
                        ├─ test_alerting_live acquire(default) → reuse
                        ├─ ...                acquire(stock)   → retime
                        └─ end of session     close
"""

import contextlib
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatestbed.provider import TestbedProvider
from tests.tiers import BROKEN, PROVIDER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def provider(run_root, pytestconfig):
    with TestbedProvider(run_root=run_root, say=lambda line: None) as shared:
        pytestconfig.stash[PROVIDER] = shared  # for the summary line (tests/conftest.py)
        yield shared




@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test marks its module: the testbed it used may be left in any state."""
    report = yield
    if report.failed:
        item.module.__dict__.setdefault(BROKEN, True)
    return report


@dataclass
class Ran:
    """One topo/run.py command run in this process: its exit code, what it printed, its results folder."""

    code: int
    printed: str
    results: Path
    seconds: float  # how long the command took (in the session's first call: later ones share the run)

    def folder(self, experiment: str) -> Path:
        """The results folder the command wrote for `experiment` (exactly one)."""
        [found] = self.results.glob(f"*-{experiment}")
        return found


@contextlib.contextmanager
def printed_into(path: Path):
    """Everything printed inside, appended to `path`: Python's own prints (sys.stdout and
    sys.stderr, which pytest's capture replaces) and the file descriptors 1 and 2 that child
    processes inherit. One unbuffered append-only descriptor serves all, so nothing overwrites
    anything. Pytest's capture is back in place afterwards."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    text = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True)
    try:
        os.dup2(fd, 1), os.dup2(fd, 2)
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
            yield
    finally:
        text.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for one in (*saved, fd):
            os.close(one)


@pytest.fixture(scope="session")
def topo_run(provider, tmp_path_factory):
    """run(ARGV) → Ran: `topo/run.py ARGV` as topo/run.py's own main() in this process, on the
    shared provider, each distinct command once per session: a lab's command and a test that
    asks for the same command share one run, whichever comes first (the experiment suite and
    labs 1-4, test_capacity_weighting and lab 1, test_timer_sweep_live and lab 2,
    test_spof_sweep and lab 5; tests/unit/test_lab_commands.py keeps the commands the same).
    What it printed is kept either way."""
    from mininet.log import lg

    from hatestbed.main import main

    done: dict[tuple[str, ...], Ran] = {}

    def run(argv: list[str], results: Path | None = None) -> Ran:
        """`results`: the command's results folder, when the caller prepared one."""
        key = tuple(argv)
        if key in done:
            return done[key]
        results = results or tmp_path_factory.mktemp("results")
        stream, before = lg.ch.stream, os.environ.get("HATESTBED_RESULTS")
        os.environ["HATESTBED_RESULTS"] = str(results)
        printed = results / "printed.txt"
        began = time.monotonic()
        try:
            with printed_into(printed):
                code = main(list(argv), provider=provider)
        except SystemExit as exc:  # a refusal (bad input) exits like the script does
            code = exc.code
        finally:
            lg.ch.setStream(stream)  # the CLI points Mininet's log at stdout: put it back
            if before is None:
                del os.environ["HATESTBED_RESULTS"]
            else:
                os.environ["HATESTBED_RESULTS"] = before
        done[key] = Ran(code, printed.read_text(errors="replace"), results, round(time.monotonic() - began, 1))
        return done[key]

    return run


@pytest.fixture
def free_machine(provider):
    """No testbed running: for tests that start topo/run.py themselves (one testbed per machine)."""
    provider.close()


@pytest.fixture
def run_py(run_root, free_machine):
    """Run topo/run.py as a user would (any python3; it re-executes under .venv)."""

    def run(*args, timeout=120, env=None, **kwargs):
        env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root), **(env or {}))
        return subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), *args], env=env,
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    return run
