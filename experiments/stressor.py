"""A bounded CPU stressor inside the testbed, and how busy the machine's CPUs were meanwhile.

    with CpuStressor(testbed, host, seconds=120, label="sweep-3"):      stress-ng --cpu 0 (one
        ... the daemons now compete for every core ...                  worker per core, 100 %)
                                                                        in <host>'s namespace,
    busy = CpuMeter(); ...; busy.percent()                              an owned process: stopped
                                                                        by pid on exit, and by
                                                                        stress-ng's own --timeout

stress-ng (Debian's stress-ng) is the stressor: it stops by itself after `seconds` even if the
testbed is killed, so the load is bounded in time whatever happens. Every emulated host shares
the kernel and its cores, so which host runs it only decides whose namespace it is counted in.

CpuMeter reads /proc/stat (machine-wide: namespaces do not split it): the busy share of all CPU
time between two readings, the evidence that the stressor saturated the cores.
"""

from __future__ import annotations

import time
from pathlib import Path


def cpu_times(stat: str | None = None) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat's first line (idle + iowait are idle)."""
    if stat is None:
        stat = Path("/proc/stat").read_text()
    fields = [int(v) for v in stat.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user/nice: only the first 8 fields add up to the total.
    total = sum(fields[:8])
    return total - idle, total


class CpuMeter:
    """Busy share of every CPU since the meter was created (or last reset)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._busy, self._total = cpu_times()

    def percent(self) -> float | None:
        busy, total = cpu_times()
        if total <= self._total:
            return None
        return round(100.0 * (busy - self._busy) / (total - self._total), 1)


class CpuStressor:
    """stress-ng with one CPU worker per core in `host`'s namespace for at most `seconds`."""

    def __init__(self, testbed, host: str, seconds: float, label: str):
        self.testbed = testbed
        self.host = host
        self.seconds = max(1, int(seconds))
        self.label = label
        self.process = None
        self.started_at = 0.0

    def argv(self) -> list[str]:
        return ["stress-ng", "--cpu", "0", "--cpu-load", "100", "--timeout", f"{self.seconds}s", "--quiet"]

    def __enter__(self) -> CpuStressor:
        log = self.testbed.run_dir.path / "logs" / f"{self.host}-stress-{self.label}.log"
        self.process = self.testbed.processes.start(f"stress-{self.label}", self.argv(),
                                                    node=self.testbed.net[self.host], log=log, group=True)
        self.started_at = time.time()
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.stop(2.0)
