"""The faults a person injected by hand, one list shared by the CLI and the dashboard.

    testbed> fail node:lb1 ──┐                      ┌──▶ the CLI prints the injection time
                             ├──▶ FaultBoard ───────┤
    page: click lb1 → crash ─┘   (one lock)         └──▶ listeners: the dashboard's timeline

Both front ends inject through here, so a fault typed in the CLI shows on the page, a fault
clicked on the page can be healed in the CLI, and `heal all` (or the end of the session) heals
both. Faults are the catalogue's (experiments/faults): the same inject and recover whoever asks.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from experiments.faults import parse
from topo.errors import TestbedError


class BoardError(TestbedError):
    """A fail or heal the board refused (already injected, not injected, a bad address)."""


class FaultBoard:
    def __init__(self, testbed):
        self.testbed = testbed
        self.injected: dict[str, object] = {}  # address → fault, in injection order
        self.listeners: list[Callable[[dict], None]] = []  # each gets every fail/heal record
        self.started = time.time()  # the session's start: `lab check` grades what happened since
        self.history: list[dict] = []  # every fail/heal record, refused ones included
        # One fault at a time: a heal from the page must not race a fail typed in the CLI.
        self._lock = threading.RLock()

    def fail(self, address: str, by: str) -> object:
        """Inject the fault `address` names; BoardError (with the reason) if it cannot be."""
        address = address.strip()
        with self._lock:
            if address in self.injected:
                raise BoardError(f"{address} is already injected (heal it first)")
            try:
                fault = parse(address, self.testbed)
                fault.inject()
            except TestbedError as exc:
                self._tell({"t": time.time(), "action": "fail", "address": address, "by": by, "error": str(exc)})
                raise BoardError(str(exc)) from None
            self.injected[address] = fault
        self._tell({"t": fault.injected_at, "action": "fail", "address": address, "by": by})
        return fault

    def heal(self, address: str, by: str) -> object:
        """Recover a fault injected here; BoardError if it is not, or if its recovery failed
        (it is off the board either way: its own recover() has done what it could)."""
        address = address.strip()
        with self._lock:
            fault = self.injected.pop(address, None)
            if fault is None:
                raise BoardError(f"{address or '(no address)'} is not injected "
                                 f"(injected: {', '.join(self.injected) or 'none'})")
            try:
                fault.recover()
            except TestbedError as exc:
                self._tell({"t": time.time(), "action": "heal", "address": address, "by": by, "error": str(exc)})
                raise BoardError(f"{address}: {exc}") from None
        self._tell({"t": fault.recovered_at or time.time(), "action": "heal", "address": address, "by": by})
        return fault

    def heal_all(self, by: str) -> list[tuple[str, object | BoardError]]:
        """Heal every fault still injected, the last injected first: [(address, fault or error)]."""
        done = []
        with self._lock:
            for address in reversed(list(self.injected)):
                try:
                    done.append((address, self.heal(address, by)))
                except BoardError as exc:
                    done.append((address, exc))
        return done

    def addresses(self) -> list[str]:
        with self._lock:
            return list(self.injected)

    def _tell(self, record: dict) -> None:
        self.history.append(record)
        for listener in list(self.listeners):
            listener(record)
