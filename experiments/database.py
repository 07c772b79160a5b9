"""What the database experiments share: where writes go, the always-on failover's own journal,
and the Jepsen-style checks at the end of a trial.

    writes: client1 ──POST /write every 20 ms (timeout 5 s)──▶ VIP ─▶ an app ─▶ its writer
    checks after the fault:
      acked ids      every id a client got a 201 for
      on every node  every surviving MariaDB's rows: an acked (id, writer) missing there is LOST
                     (replication gets a few seconds to deliver first: late is not lost); the
                     writer is part of the key, as two primaries reuse the same ids
      read-your-writes  GET /read through the VIP, repeatedly: every answer must see the
                     highest id acknowledged before the read was sent

Write outage = the longest gap between two acknowledgements around the fault: Galera blocks
commits until the cluster has evicted a dead node (slow but not failed), a promotion fails them
until the apps are switched; both are time without an acknowledged write.
"""

from __future__ import annotations

import json
import time

from hosts.client import https_request
from hosts.webapp.app import TABLE
from hosts.site import DB_NAME
from topo.jsonl import read_jsonl
from topo.wait import NotReadyError, wait_until

WRITE_INTERVAL = 0.02
WRITE_TIMEOUT = 5.0


def writer(experiment) -> str:
    """The server whose database the trial attacks: the primary (replication modes) or, for
    Galera, the bootstrap node (server1: its app writes there, as every app writes locally)."""
    return experiment.site.primary_db


def start_writes(experiment, label: str, duration: float = 60):
    return experiment.start_probe(experiment.site.clients[0], label, baseline=20, method="POST", path="/write",
                                  interval=WRITE_INTERVAL, duration=duration, timeout=WRITE_TIMEOUT)


def ack_gap(requests, t0: float, before: float = 1.0) -> dict:
    """The longest time without an acknowledged write, among acknowledgements from `before` s
    before t0 on: (gap_ms, from, to)."""
    acks = sorted(r.done for r in requests if r.ok and r.done >= t0 - before)
    if len(acks) < 2:
        return {"gap_ms": None, "from_t": None, "to_t": None}
    gap, a, b = max((b - a, a, b) for a, b in zip(acks, acks[1:]))
    return {"gap_ms": round(gap * 1000, 1), "from_t": a, "to_t": b}


def acked_ids(requests) -> dict[tuple[int, str], float]:
    """(id, the app that wrote it) → when its acknowledgement arrived. The writer is part of the
    key: two primaries after a split brain hand out the same ids for different rows."""
    return {(int(r.id), r.served_by): r.done for r in requests if r.ok and r.id}


def stored_rows(experiment, server: str) -> set[tuple[int, str, str]] | None:
    """(id, written_by, created_at) of every row in `server`'s copy (None: it does not answer)."""
    mariadb = experiment.testbed.services.find(server, "mariadb")
    try:
        rows = mariadb.sql(experiment.testbed.net[server], f"SELECT id, written_by, created_at FROM {DB_NAME}.{TABLE}")
    except Exception:
        return None
    return {(int(row["id"]), row["written_by"], row["created_at"]) for row in rows}


def lost_per_node(experiment, acked: set[tuple[int, str]], settle: float = 5.0) -> dict[str, list[int]]:
    """Acked writes missing on each surviving node (ids), after `settle` s for replication."""
    missing: dict[str, list[int]] = {}

    def delivered() -> bool:
        missing.clear()
        for server in experiment.site.db_nodes:
            rows = stored_rows(experiment, server)
            if rows is not None:
                have = {(i, w) for i, w, _ in rows}
                missing[server] = sorted(i for i, w in acked - have)
        return bool(missing) and not any(missing.values())

    try:
        wait_until(delivered, settle, "every acknowledged write on every surviving node", interval=0.25)
    except NotReadyError:
        pass  # what is still missing is lost
    return missing


def losses(experiment, acked: set[tuple[int, str]]) -> dict:
    """The trial's loss metrics: the most acknowledged writes missing on any surviving node, and
    (at most 20 of) the missing ids per node."""
    lost = lost_per_node(experiment, acked)
    return {"acked_writes_lost": max((len(v) for v in lost.values()), default=0),
            "lost_ids": {s: v[:20] for s, v in lost.items() if v}}


def read_your_writes(experiment, acked: dict[tuple[int, str], float], reads: int = 10) -> dict:
    """Reads through the VIP after failover: each must see the highest id acknowledged before it.
    A read that gets no answer is counted apart (failed_reads): it saw nothing, stale or not."""
    node, site = experiment.testbed.net[experiment.site.clients[0]], experiment.site
    stale, failed = [], []
    for _ in range(reads):
        sent = time.time()
        must_see = max((i for (i, _w), t in acked.items() if t < sent), default=0)
        response = https_request(node, site, "/read")
        if not response.ok:
            failed.append({"t": sent, "server": response.served_by, "error": response.error or response.status})
            continue
        last = json.loads(response.body)["last_id"]
        if last < must_see:
            stale.append({"server": response.served_by, "last_id": last, "must_see": must_see})
    return {"reads": reads, "stale_reads": len(stale), "stale": stale[:5], "failed_reads": len(failed),
            "failed": failed[:5]}


def failover_journal(experiment, since: float) -> list[dict]:
    """The always-on component's own records from `since` on: the failover manager's journal
    (replication modes) or Galera's notify events (every node)."""
    site = experiment.site
    path = site.galera_events if site.db_mode == "galera" else site.run_path / "logs" / "db-failover.jsonl"
    return [e for e in read_jsonl(path) if e["t"] >= since] if path.exists() else []


def detection(experiment, since: float, lost: str) -> dict:
    """When the always-on component decided `lost` was gone, and when writes were redirected,
    from its journal: Galera, the first view without `lost` on a survivor; the manager, its
    primary_lost and apps_switched records."""
    events = failover_journal(experiment, since)
    if experiment.site.db_mode == "galera":
        view = next((e for e in events if e["host"] != lost and e.get("primary") == "yes"
                     and e.get("members") and lost not in e["members"]), None)
        t = view["t"] if view else None
        return {"detected_t": t, "switched_t": t, "by": "galera view change"}
    lost_t = next((e["t"] for e in events if e["event"] == "primary_lost"), None)
    switched = next((e for e in events if e["event"] == "apps_switched"), None)
    return {"detected_t": lost_t, "switched_t": switched["t"] if switched else None,
            "new_primary": switched["primary"] if switched else None, "by": "failover manager"}


def ms_after(t: float | None, t0: float) -> float | None:
    return None if t is None else round((t - t0) * 1000, 1)
