"""Copy tests/dropped_experiment.py into the experiments package for the duration of a test."""

import shutil
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parent / "dropped_experiment.py"


@contextmanager
def dropped_experiment():
    target = REPO / "experiments" / "zz_dropped_in.py"
    assert not target.exists(), f"{target} is left over from an interrupted test: remove it"
    shutil.copy(SOURCE, target)
    try:
        yield "zz_dropped_in"
    finally:
        target.unlink()
        for cached in (REPO / "experiments" / "__pycache__").glob("zz_dropped_in.*.pyc"):
            cached.unlink(missing_ok=True)
