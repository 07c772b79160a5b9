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

import os
import subprocess
import sys
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
