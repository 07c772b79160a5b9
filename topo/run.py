#!/usr/bin/env python3
"""The documented entry point: `sudo python3 topo/run.py [--smoke | --experiment NAME | ...]`.

Any `python3` may start this file: it re-executes itself with the project's virtual environment
(Debian's python3 + Mininet + the pinned packages), then hands over to hatestbed/main.py, where
the modes, the exit codes and the teardown live.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"


def use_project_environment() -> None:
    """Re-execute under .venv's interpreter; one line and exit 1 when there is none."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        try:
            import mininet.net  # noqa: F401
        except ImportError:
            sys.exit(f"topo/run.py: error: Mininet is not importable from {VENV}: run `sudo ./testbed setup` in {REPO}")
        return
    venv_python = VENV / "bin" / "python"
    if not venv_python.exists():
        sys.exit(f"topo/run.py: error: the testbed is not set up (no {VENV}): run `sudo ./testbed setup` in {REPO}")
    os.execv(venv_python, [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    use_project_environment()
    sys.path.insert(0, str(REPO))
    from hatestbed.main import main

    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # `... --list-faults | head`: the reader has gone, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
