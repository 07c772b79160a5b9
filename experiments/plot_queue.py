"""Plots drawn after the testbed stops, on every core.

Drawing one timeline takes 0.4-0.9 s on this 2-core VM and a suite asks for dozens (every
trial of every experiment, every attack of packet_faults). Drawn while the testbed runs, that
time is wall time of the run and load on the very failovers being timed. Queued, they cost
neither; they are drawn when the suite has torn its testbed down, before it writes the reports
that list them:

    with plot_queue.deferred(say):            hatestbed/suite.py, around the experiments and
        report.timeline_plot(..., path)       the teardown; queued: returns `path`, drawn later
    (leaving the block: every queued plot drawn, one process per core)

Outside `deferred()` (the CLI's `experiment NAME`, unit tests) a plot is drawn at once.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

_queue: list[tuple] | None = None  # (function, args, kwargs) while deferring, else None


def submit(draw, path: Path | str, *args, **kwargs) -> Path:
    """Draw `draw(path, *args, **kwargs)` now, or queue it while a `deferred()` block is open."""
    if _queue is None:
        draw(path, *args, **kwargs)
    else:
        _queue.append((draw, (path, *args), kwargs))
    return Path(path)


def _call(job: tuple) -> None:
    draw, args, kwargs = job
    draw(*args, **kwargs)


def draw_all(jobs: list[tuple], workers: int | None = None) -> list[str]:
    """Draw `jobs`, one process per core; one line per plot that failed (a plot lost is not a
    run lost). Called once the testbed is down: the workers are forks of this process."""
    workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    errors = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        futures = [(job, pool.submit(_call, job)) for job in jobs]
        for job, future in futures:
            try:
                future.result()
            except Exception as exc:
                errors.append(f"{job[1][0]}: {type(exc).__name__}: {exc}")
    return errors


@contextmanager
def deferred(say=print):
    """Queue every plot asked for inside the block; draw them all when it closes (also after an
    error, so what ran keeps its pictures). Nested blocks join the outer one."""
    global _queue
    if _queue is not None:
        yield
        return
    _queue = []
    try:
        yield
    finally:
        jobs, _queue = _queue, None
        for line in draw_all(jobs) if jobs else []:
            say(f"plot not drawn: {line}")
