"""The page's event timeline: what the daemons and the fault board journal, as one stream.

    logs/vrrp-events.jsonl          keepalived notify      lb2 MASTER
    logs/<lb>-haproxy.log           HAProxy's own log      lb1: server1 DOWN
    logs/galera-events.jsonl        Galera notify          server2: view server2,server3 (primary)
    logs/db-failover.jsonl          failover manager       failover manager: primary_lost
    logs/<c>-events.jsonl           the controller         c0: s1 port 2 down / c1 takeover
    logs/alerts-received.jsonl      Alertmanager webhook   alert firing: LoadBalancerDown lb1
    FaultBoard                      CLI and page           fault injected node:lb1 (page)
          │ poll(): the new lines only (runtime/jsonl.py)
          ▼
    Event(id, t, kind, host, text)   each with the time its writer stamped, not the time read

Times are the writers' own (unix seconds; the page shows local wall-clock milliseconds), so the
timeline orders a failover as it happened, whatever the polling rate.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass

from hosts.alert_receiver import journal_path as alerts_journal
from hosts.haproxy import parse_state_changes
from runtime.jsonl import JsonlTail, LineTail

KEPT = 500  # events a page that connects late is sent
PORT_DEDUP_S = 1.0  # both controller instances report every port change: show it once


@dataclass(frozen=True)
class Event:
    id: int
    t: float
    kind: str  # fault, vrrp, haproxy, database, controller, alert
    host: str
    text: str

    def as_json(self) -> dict:
        return asdict(self)


class Timeline:
    def __init__(self, testbed):
        site = testbed.site
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.recent: deque[Event] = deque(maxlen=KEPT)
        self._pending: list[Event] = []  # from the board's listener (another thread), until polled
        self._ports_seen: dict[tuple, float] = {}
        self.sources: list[tuple[str, object, object]] = []  # (kind, tail, record → [(t, host, text)])
        if site is not None:
            self.sources.append(("vrrp", JsonlTail(site.vrrp_events), vrrp_lines))
            for lb in site.lbs:
                self.sources.append(("haproxy", LineTail(site.log(lb, "haproxy")), haproxy_reader(lb)))
            self.sources.append(("database", JsonlTail(site.galera_events), galera_lines))
            self.sources.append(("database", JsonlTail(site.run_path / "logs" / "db-failover.jsonl"), manager_lines))
            self.sources.append(("alert", JsonlTail(alerts_journal(site)), alert_lines))
        if testbed.controller is not None:
            for instance in testbed.controller.instances:
                self.sources.append(("controller", JsonlTail(instance.events_path), self.controller_reader(instance.name)))

    def board_record(self, record: dict) -> None:
        """The fault board's listener: a fail or heal from the CLI or the page."""
        verb = {"fail": "injected", "heal": "healed"}[record["action"]]
        text = f"{verb} {record['address']} ({record['by']})"
        if record.get("error"):
            text = f"{record['action']} {record['address']} ({record['by']}) FAILED: {record['error']}"
        with self._lock:
            self._pending.append(Event(next(self._ids), record["t"], "fault", "", text))

    def poll(self) -> list[Event]:
        """Every event written since the last poll, in time order (also kept in .recent)."""
        new = []
        for kind, tail, lines in self.sources:
            records = tail.records() if isinstance(tail, JsonlTail) else tail.read()
            for record in records:
                for t, host, text in lines(record):
                    new.append((t, kind, host, text))
        with self._lock:
            events = self._pending + [Event(next(self._ids), t, kind, host, text) for t, kind, host, text in new]
            self._pending = []
            events.sort(key=lambda e: e.t)
            self.recent.extend(events)
        return events

    def controller_reader(self, instance: str):
        def lines(record: dict) -> list[tuple[float, str, str]]:
            event, t = record.get("event"), record.get("t", 0.0)
            if event == "port_status":
                key = (record.get("switch"), record.get("port"), record.get("up"))
                if t - self._ports_seen.get(key, -PORT_DEDUP_S) < PORT_DEDUP_S:
                    return []
                self._ports_seen[key] = t
                return [(t, record.get("switch", ""),
                         f"{record.get('switch')} port {record.get('port')} {'up' if record.get('up') else 'down'}"
                         f" ({record.get('kind')}, seen by {instance})")]
            if event in ("switch_connected", "switch_disconnected"):
                return [(t, record.get("switch", ""), f"{record.get('switch')} {event.split('_')[1]} ({instance})")]
            if event in ("takeover_started", "takeover_complete", "stepped_down", "instance_started"):
                return [(t, instance, f"{instance} {event.replace('_', ' ')}"
                         + (f" ({record['reason']})" if record.get("reason") else ""))]
            return []
        return lines


def vrrp_lines(record: dict) -> list[tuple[float, str, str]]:
    return [(record["t"], record["host"], f"{record['host']} {record['state']}")]


def haproxy_reader(lb: str):
    def lines(line: str) -> list[tuple[float, str, str]]:
        return [(c.time, lb, f"{lb} sees {c.server} {c.state}") for c in parse_state_changes(line)]
    return lines


def galera_lines(record: dict) -> list[tuple[float, str, str]]:
    members = ",".join(record.get("members") or [])
    text = f"{record['host']}: {record.get('status') or 'view'}"
    if members:
        text += f", view {members}" + (" (primary)" if record.get("primary") == "yes" else " (NOT primary)")
    return [(record["t"], record["host"], text)]


def manager_lines(record: dict) -> list[tuple[float, str, str]]:
    detail = ", ".join(f"{k} {v}" for k, v in record.items() if k not in ("t", "event") and not isinstance(v, (dict, list)))
    return [(record["t"], "", f"failover manager: {record['event'].replace('_', ' ')}" + (f" ({detail})" if detail else ""))]


def alert_lines(record: dict) -> list[tuple[float, str, str]]:
    return [(record["t"], record.get("instance", ""),
             f"alert {record.get('status')}: {record.get('alertname')} {record.get('instance', '')}"
             f" (via {record.get('recorder')})")]
