"""One testbed at a time, kept running while it fits: the experiment suite, topo/run.py and the
test suite ask the provider for a testbed instead of bringing one up themselves.

    provider.acquire(topology)
        nothing running ........................................ bring one up          "up"
        running as `topology`, not dirty ....................... hand it over as it is  "reuse"
        only restartable daemons' files differ, not dirty ...... restart those daemons  "retime"
        anything else (the network, the database mode, dirty) .. stop it, bring one up  "rebuild"
    provider.release(dirty=True)   the caller left it changed for good (a fault not undone, a
                                   failed test): the next acquire brings a fresh one up
    provider.close()               stop whatever runs (returns what teardown removed by record)

Only one testbed exists at a time: the machine's OVS, switch names and controller port allow no
second one. `log` keeps how each acquire was served, so a caller can say how many bring-ups a
job cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hatestbed.progress import NullProgress
from hatestbed.testbed import Testbed
from topo.errors import TestbedError

# Daemons whose files may change under a running testbed: restarted with the new files, they
# behave as if started fresh. MariaDB is not among them: a database mode change (Galera to
# replication) would restart a node on data and a membership built for the other mode.
RESTARTABLE = frozenset({"keepalived", "haproxy", "nginx", "app", "prometheus"})


@dataclass(frozen=True)
class Served:
    """How one acquire was served: the way, the topology's name, what restarted, the seconds it took."""

    way: str
    topology: str
    restarted: tuple[str, ...]
    seconds: float


def way_to(running, dirty: bool, wanted, changed: tuple[str, ...] | None) -> str:
    """How to get from the running topology (None: nothing runs) to `wanted`. `changed` is what a
    retime would restart, None when a retime cannot get there (the network differs)."""
    if running is None:
        return "up"
    if dirty:
        return "rebuild"
    if running == wanted:
        return "reuse"
    if changed is not None and set(changed) <= RESTARTABLE:
        return "retime"
    return "rebuild"


class TestbedProvider:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, run_root=None, progress=None, say=print):
        self.run_root = run_root
        self.progress = progress or NullProgress()
        self.say = say
        self.testbed: Testbed | None = None
        self.dirty = False
        self.log: list[Served] = []
        self.last_run_dir = None  # the newest testbed's run directory, kept for its logs after a failed start

    def acquire(self, topology) -> Testbed:
        began = time.monotonic()
        running = self.testbed.topology if self.testbed is not None else None
        # What a retime would restart is worked out (rendering every daemon's files) only when it may be the way.
        may_retime = running is not None and not self.dirty and running != topology
        changed = self._retime_changes(topology) if may_retime else None
        way = way_to(running, self.dirty, topology, changed)
        restarted: tuple[str, ...] = ()
        if way == "retime":
            self.testbed.retime(topology, changed)
            restarted = changed
            self.say(f"retimed: {', '.join(changed) or 'nothing'} restarted with the new settings "
                     f"in {time.monotonic() - began:.1f} s")
        elif way in ("up", "rebuild"):
            self.close()
            self.testbed = self._up(topology)
        self.dirty = False
        self.log.append(Served(way, topology.name, restarted, round(time.monotonic() - began, 3)))
        return self.testbed

    def running(self):
        """The topology of the testbed an acquire would reuse as it is (None: none is)."""
        return self.testbed.topology if self.testbed is not None and not self.dirty else None

    def release(self, dirty: bool = False) -> None:
        """The caller is done; `dirty` if it left the testbed changed for good."""
        self.dirty = self.dirty or dirty

    def close(self) -> list[str]:
        """Stop the running testbed, if any; what its teardown had to remove by record."""
        testbed, self.testbed, self.dirty = self.testbed, None, False
        return testbed.stop() if testbed is not None else []

    def bring_ups(self) -> int:
        return sum(1 for served in self.log if served.way in ("up", "rebuild"))

    def summary(self) -> str:
        counts = {way: sum(1 for s in self.log if s.way == way) for way in ("up", "rebuild", "retime", "reuse")}
        return (f"testbeds: {counts['up'] + counts['rebuild']} brought up, {counts['retime']} retimed, "
                f"{counts['reuse']} reused")

    def __enter__(self) -> TestbedProvider:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _retime_changes(self, topology) -> tuple[str, ...] | None:
        """The daemons a retime to `topology` would restart; None when only a rebuild gets there."""
        testbed = self.testbed
        if testbed.services is None or not topology.services.enabled:
            return None
        try:
            return testbed.changes_on_retime(topology)
        except TestbedError:
            return None

    def _up(self, topology) -> Testbed:
        """Preflight and start; a start that fails is stopped before the error goes on."""
        testbed = Testbed(topology, run_root=self.run_root, progress=self.progress)
        testbed.preflight()
        for line in testbed.cleaned:
            self.say(f"cleaned stale {line}")
        try:
            testbed.start()
        except BaseException:
            for line in testbed.stop():
                self.say(f"teardown removed leftover {line}")
            raise
        finally:
            self.last_run_dir = testbed.run_dir.path if testbed.run_dir else None
        return testbed
