"""What this testbed measured since the session began, read from the same journals the timeline
shows: the fault board's history, keepalived's notify records, HAProxy's log, the probes' rows.

    Session(testbed, board)
      .faults()        [Window(address, start, end)]   from the board: when each fault was in
      .vrrp()          keepalived notify records       logs/vrrp-events.jsonl
      .server_downs()  [(t, lb, server)]               HAProxy's own log
      .requests(kind)  probe rows sent since the start <run>/probes/*.csv (dashboard-, cli-probe-, cli-dist-)

The lab steps (steps.py) turn these into the figure a student should have read off the page or
the CLI; nothing here is a fixed expected number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from experiments.probes import Request, read_requests
from runtime.jsonl import read_jsonl

# The probes a student looks at: the page's strip chart, the CLI's `probe` and `dist`.
PROBE_KINDS = {"dashboard": "dashboard-", "probe": "cli-probe-", "dist": "cli-dist-"}


@dataclass(frozen=True)
class Window:
    address: str
    start: float
    end: float | None  # None: still injected

    def holds(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


class Session:
    def __init__(self, testbed, board):
        self.testbed, self.board = testbed, board
        self.started = board.started

    def faults(self) -> list[Window]:
        """Every fault injected in this session (refused ones left out), with its heal time."""
        windows, open_at = [], {}
        for record in self.board.history:
            if record.get("error"):
                continue
            if record["action"] == "fail":
                open_at[record["address"]] = record["t"]
            elif record["address"] in open_at:
                windows.append(Window(record["address"], open_at.pop(record["address"]), record["t"]))
        windows += [Window(address, t, None) for address, t in open_at.items()]
        return sorted(windows, key=lambda w: w.start)

    def faulted(self, t: float) -> list[str]:
        return [w.address for w in self.faults() if w.holds(t)]

    def vrrp(self) -> list[dict]:
        site = self.testbed.site
        return [e for e in read_jsonl(site.vrrp_events) if e["t"] >= self.started] if site else []

    def server_downs(self) -> list[tuple[float, str, str]]:
        services = self.testbed.services
        found = [(c.time, daemon.host, c.server) for daemon in (services.daemons if services else [])
                 if daemon.name == "haproxy" for c in daemon.state_changes()
                 if c.state == "DOWN" and c.time >= self.started]
        return sorted(found)

    def requests(self, *kinds: str) -> list[Request]:
        """The rows of the probes of these kinds (all three when none given) sent in the session."""
        if self.testbed.run_dir is None:
            return []
        prefixes = tuple(PROBE_KINDS[k] for k in (kinds or PROBE_KINDS))
        rows = []
        for path in sorted((self.testbed.run_dir.path / "probes").glob("*.csv")):
            if path.name.startswith(prefixes) and path.stat().st_mtime >= self.started:
                rows += [r for r in read_requests(path) if r.sent >= self.started]
        return sorted(rows, key=lambda r: r.sent)

    def now(self) -> float:
        return time.time()
