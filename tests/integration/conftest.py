"""Integration tier: a real Mininet network on userspace Open vSwitch under the os-ken controller.

Every module here sets `pytestmark = pytest.mark.root`; `pytest -m "not root"` leaves them out. Run records go to a
temporary run root so a user's own runs are never touched.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture
def run_py(run_root):
    """Run topo/run.py as a user would (any python3; it re-executes under .venv)."""

    def run(*args, timeout=120, env=None, **kwargs):
        env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root), **(env or {}))
        return subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), *args], env=env,
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    return run
