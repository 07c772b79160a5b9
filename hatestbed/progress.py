"""What a long step is doing, for the person watching: bring-up phases, and for the experiment
suite which experiment, trial k of N, time elapsed and an estimate of the time left.

    make_progress()  ─┬─ a terminal:  LiveProgress   rich bars, redrawn in place
                      └─ a pipe, CI:  PlainProgress  one plain line per event, nothing redrawn

    Testbed.start()        bringup_started() · phase(name, seconds)… · bringup_done()
    run_suite()            suite_started(total trials) … suite_done()
    Experiment.run()       trial_started(experiment, profile, k, n) · trial_done()

NullProgress says nothing (the library's default, so tests and scripts stay quiet).
"""

from __future__ import annotations

import sys
import time

# Bring-up phases in order: (the mark Testbed.start() sets when one ends, what the next one does).
PHASES = (
    ("controller_listening", "building the network"),
    ("network_built", "connecting the switches to the controller"),
    ("switches_connected", "checking every host reaches every other"),
    ("hosts_reachable", "starting the services (daemons, health)"),
    ("services_ready", "up"),
)
FIRST_PHASE = "starting the controller"


class NullProgress:
    def bringup_started(self) -> None: ...
    def phase(self, name: str, seconds: float) -> None: ...
    def bringup_done(self) -> None: ...
    def suite_started(self, total: int) -> None: ...
    def trial_started(self, experiment: str, profile: str, k: int, n: int) -> None: ...
    def trial_done(self) -> None: ...
    def suite_done(self) -> None: ...


def _next_step(name: str) -> str:
    return dict(PHASES).get(name, name.replace("_", " "))


def clock(seconds: float) -> str:
    """A duration as M:SS (H:MM:SS from an hour on)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class PlainProgress(NullProgress):
    """One line per event, for logs and pipes."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.total = self.done = 0
        self.began = 0.0

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def phase(self, name: str, seconds: float) -> None:
        self.say(f"bring-up: {name.replace('_', ' ')} at {seconds:.1f} s")

    def suite_started(self, total: int) -> None:
        self.total, self.done, self.began = total, 0, time.monotonic()

    def trial_started(self, experiment: str, profile: str, k: int, n: int) -> None:
        elapsed = time.monotonic() - self.began
        left = f", about {clock(elapsed / self.done * (self.total - self.done))} left" if self.done else ""
        self.say(f"[{self.done + 1}/{self.total}] {experiment} ({profile}) trial {k}/{n} · "
                 f"{clock(elapsed)} elapsed{left}")

    def trial_done(self) -> None:
        self.done += 1


class LiveProgress(NullProgress):
    """rich bars redrawn in place; the display runs only while a bring-up or a suite is under way,
    so the testbed CLI's prompt is never drawn over."""

    def __init__(self, console=None):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
                             TimeRemainingColumn(), console=console)
        self.bringup = self.suite = None

    def _show(self) -> None:
        if not self.bars.live.is_started:
            self.bars.start()

    def _hide_if_idle(self) -> None:
        if self.bringup is None and self.suite is None and self.bars.live.is_started:
            self.bars.stop()

    def bringup_started(self) -> None:
        self._show()
        self.bringup = self.bars.add_task(f"bring-up: {FIRST_PHASE}", total=len(PHASES))

    def phase(self, name: str, seconds: float) -> None:
        if self.bringup is not None:
            self.bars.update(self.bringup, advance=1, description=f"bring-up: {_next_step(name)}")

    def bringup_done(self) -> None:
        if self.bringup is not None:
            self.bars.remove_task(self.bringup)
            self.bringup = None
        self._hide_if_idle()

    def suite_started(self, total: int) -> None:
        self._show()
        self.suite = self.bars.add_task("experiments", total=total)

    def trial_started(self, experiment: str, profile: str, k: int, n: int) -> None:
        if self.suite is not None:
            self.bars.update(self.suite, description=f"{experiment} ({profile}) trial {k}/{n}")

    def trial_done(self) -> None:
        if self.suite is not None:
            self.bars.advance(self.suite)

    def suite_done(self) -> None:
        if self.suite is None:
            return
        task, self.suite = self.suite, None
        self.bars.update(task, description="experiments: done")
        self._hide_if_idle()  # the last drawing stays on the screen
        self.bars.remove_task(task)


def make_progress(stream=None):
    """LiveProgress on a terminal, PlainProgress otherwise (CI, pipes, files)."""
    stream = stream or sys.stdout
    if stream.isatty():
        from rich.console import Console

        return LiveProgress(Console(file=stream))
    return PlainProgress(stream)
