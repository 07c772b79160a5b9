"""The shape every fault has: a text address, inject(), recover(), their times, describe().

    fault = parse("node:server1", testbed)          # or NodeCrash(testbed, "server1")
    details = fault.inject()                        # does it; fault.injected_at = just before
    ...observe...
    details = fault.recover()                       # undoes it; idempotent; fault.recovered_at
    fault.address                                   # "node:server1"
    fault.describe()                                # {"kind": "node_crash", "address": ..., "host": ...}

inject() and recover() return a JSON-serialisable dict: what exactly was touched (pids,
interfaces, flows), unix timestamps, and what the controller's journal saw. Processes are found
only through the testbed's records, never by name; every wait has a deadline; errors raise
FaultError with what and where.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from runtime import command
from topo.errors import TestbedError


class FaultError(TestbedError):
    """A fault could not be addressed, set up, injected or recovered; the message says what and where."""


def now() -> float:
    return time.time()


def signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def require_started(testbed) -> None:
    if testbed.net is None or testbed.controller is None:
        raise FaultError("the testbed is not started (no network)")


def require_services(testbed) -> None:
    if testbed.services is None:
        raise FaultError("the testbed's services are not running (services disabled or not started)")


def check_host(testbed, host: str) -> None:
    if host not in testbed.topology.hosts:
        raise FaultError(f"unknown host {host!r}; hosts: {', '.join(testbed.topology.hosts)}")


def set_link(intf: str, state: str, node=None) -> None:
    """`ip link set dev <intf> up|down`, in `node`'s namespace (None: the root namespace).

    Commands go through runtime.command (exit codes checked, inside the host via popen), not
    Mininet's Node.cmd(): a host's shell may be busy, and cmd() drops the exit code."""
    command.run(["ip", "link", "set", "dev", intf, state], node, timeout=10)


class Fault:
    """Base class: the common shape (see the module docstring)."""

    kind: ClassVar[str] = "fault"

    def __init__(self, testbed):
        self.testbed = testbed
        self.injected_at: float | None = None
        self.recovered_at: float | None = None

    @property
    def address(self) -> str:
        raise NotImplementedError

    def target(self) -> dict:
        """What the fault acts on (host, daemon, link ends...), beyond its kind and address."""
        return {}

    def describe(self) -> dict:
        return {"kind": self.kind, "address": self.address, **self.target()}

    def inject(self) -> dict:
        raise NotImplementedError

    def recover(self) -> dict:
        raise NotImplementedError

    def _details(self, **fields) -> dict:
        return {**self.describe(), **fields}

    def __enter__(self) -> dict:
        return self.inject()

    def __exit__(self, *exc) -> None:
        self.recover()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"


def recover_side_by_side(faults: list[Fault]) -> list[tuple[dict | None, BaseException | None]]:
    """Recover `faults` at once, each in its own thread, every one to its end (a recovery that
    waits on another must not wait behind it): (its result, None) or (None, its error), in order."""
    with ThreadPoolExecutor(max_workers=max(1, len(faults))) as pool:
        futures = [pool.submit(fault.recover) for fault in faults]
    return [(None, f.exception()) if f.exception() else (f.result(), None) for f in futures]
