"""What the database experiments share: where writes go, the always-on failover's own journal,
and the Jepsen-style checks at the end of a trial.

    writes: client1 ──POST /write every 20 ms (timeout 5 s)──▶ VIP ─▶ an app ─▶ its writer
            each body names its request ("<probe label> seq=<n>"), stored as the row's payload
    each write is, from the client's side:
      acked      a 201 with the row's id: (id, writer, payload) must be on every surviving node
      unknown    sent, no definite answer (a read timeout, a closed or reset connection, an
                 application's 5xx): it may or may not be stored, never counted lost nor served
      failed     refused before it reached an application: it must not be stored
    checks after the fault:
      on every node  every surviving MariaDB's rows, read until each has every acked write,
                     or (replication modes) until replication is idle: nothing is on its way
                     (late is not lost), or SETTLE_S; a node expected to answer that does not
                     is an ERROR (0 lost from nodes never read would be a lie); (id, writer,
                     payload) is the key: two primaries hand out the same ids for different rows
      phantoms       rows of this probe that are neither acked nor unknown
      read-your-writes  GET /read?from=<first acked id> through the VIP, repeatedly: every write
                     acknowledged before the read was sent must be in the answer

Write outage = the longest gap between two acknowledgements around the fault: Galera blocks
commits until the cluster has evicted a dead node (slow but not failed), a promotion fails them
until the apps are switched; both are time without an acknowledged write.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from experiments.base import ExperimentError
from experiments.probe_client import OUTCOME_UNKNOWN, write_payload
from hosts.client import https_request
from hosts.failoverd.decision import gtid_positions
from hosts.webapp.app import TABLE
from hosts.site import DB_NAME
from runtime.jsonl import read_jsonl
from runtime.wait import NotReadyError, wait_until

WRITE_INTERVAL = 0.02
WRITE_TIMEOUT = 5.0
SETTLE_S = 10.0  # at most this for replication to deliver before a missing write counts as lost


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


Key = tuple[int, str, str]  # (id, writer, payload): one stored row, one request


@dataclass(frozen=True)
class WriteLog:
    """The client's side of a trial's writes (see the module docstring)."""

    label: str  # the probe's: every payload of this trial starts with it
    acked: dict[Key, float]  # → when the acknowledgement arrived
    unknown: frozenset[str]  # payloads of writes whose outcome the client cannot know

    def ours(self, payload: str) -> bool:
        return payload.startswith(f"{self.label} seq=")


def write_log(requests, label: str) -> WriteLog:
    """Acked and unknown writes of the probe `label`. The writer is the app that answered (it
    stores its own name in written_by)."""
    acked = {(int(r.id), r.served_by, write_payload(label, r.seq)): r.done for r in requests if r.ok and r.id}
    unknown = frozenset(write_payload(label, r.seq) for r in requests
                        if not r.ok and (r.error in OUTCOME_UNKNOWN or (r.status >= 500 and r.served_by)))
    if not acked:
        raise ExperimentError(f"writes of {label}: none acknowledged, so nothing can be checked")
    return WriteLog(label, acked, unknown)


def stored_rows(experiment, server: str) -> set[Key] | None:
    """(id, written_by, payload) of every row in `server`'s copy (None: it does not answer)."""
    mariadb = experiment.testbed.services.find(server, "mariadb")
    try:
        rows = mariadb.sql(experiment.testbed.net[server], f"SELECT id, written_by, payload FROM {DB_NAME}.{TABLE}")
    except Exception:
        return None
    return {(int(row["id"]), row["written_by"], row["payload"]) for row in rows}


def replication_idle(experiment, servers: list[str]) -> bool:
    """Replication modes: nothing is on its way to any of `servers`, so a write missing from a
    copy now will never arrive. Each has no replication configured (a primary, or an old one
    the manager fenced read-only: only an explicit CHANGE MASTER would feed it, and nothing
    gives one here), or is a replica with both threads running that has applied everything its
    source, also one of `servers`, has logged. False while anything is in doubt: a thread
    stopped or reconnecting (it retries by itself), a source outside `servers`, a node not
    answering. Galera: always False (certified writes are everywhere once applied: the rows tell)."""
    site, testbed = experiment.site, experiment.testbed
    if site.db_mode == "galera":
        return False
    states = {}
    for server in servers:
        try:
            states[server] = testbed.services.find(server, "mariadb").replication_state(testbed.net[server])
        except Exception:
            return False
    for state in states.values():
        if state["role"] != "replica":
            continue
        source = states.get(state.get("master"))
        if source is None or state["io_running"] != "Yes" or state["sql_running"] != "Yes":
            return False
        applied = gtid_positions(state["gtid_current_pos"])
        if any(applied.get(domain) != gtid for domain, gtid in gtid_positions(source["gtid_binlog_pos"]).items()):
            return False
    return True


def read_survivors(experiment, log: WriteLog, down=(), settle: float | None = None) -> dict[str, set[Key]]:
    """Every node not in `down`, read until each has every acked write, or replication is idle
    (replication_idle: what is missing now never comes), or `settle` s (SETTLE_S) have passed:
    late is not lost. How the wait ended is the journal step's detail. ExperimentError if one
    of the nodes never answered: its count would be a guess."""
    settle = SETTLE_S if settle is None else settle
    expected = [s for s in experiment.site.db_nodes if s not in set(down)]
    copies: dict[str, set[Key] | None] = {}
    ended = {"by": "settle timeout"}

    def delivered() -> bool:
        idle = replication_idle(experiment, expected)  # asked first: the rows read after it are final
        fresh = {server: stored_rows(experiment, server) for server in expected}
        copies.update({server: rows for server, rows in fresh.items() if rows is not None or server not in copies})
        if all(rows is not None and not set(log.acked) - rows for rows in copies.values()):
            ended["by"] = "every acked write delivered"
            return True
        if idle and all(rows is not None for rows in fresh.values()):
            ended["by"] = "replication idle"
            return True
        return False

    with experiment.journal.step("copies read: until delivered, replication idle or settle") as step:
        try:
            wait_until(delivered, settle, "every acknowledged write on every surviving node", interval=0.25)
        except NotReadyError:
            pass  # what is still missing is lost
        step.detail = {"ended_by": ended["by"], "settle_s": settle}
    silent = [s for s, rows in copies.items() if rows is None]
    if silent:
        raise ExperimentError(f"lost writes cannot be counted: {', '.join(silent)} did not answer within "
                              f"{settle:g} s (expected every node but {', '.join(down) or 'none'})")
    return copies  # type: ignore[return-value]


def losses(experiment, log: WriteLog, down=(), copies: dict[str, set[Key]] | None = None) -> dict:
    """The trial's loss metrics: the most acknowledged writes missing on any surviving node and
    (at most 20 of) the missing ids per node; which nodes were read; how many writes of unknown
    outcome were found stored; rows of this probe that no request can account for. `copies`:
    read_survivors()'s answer when the caller has it already."""
    copies = read_survivors(experiment, log, down) if copies is None else copies
    lost = {s: sorted(i for i, _w, _p in set(log.acked) - rows) for s, rows in copies.items()}
    stored = {p for rows in copies.values() for _i, _w, p in rows if log.ours(p)}
    acked_payloads = {p for _i, _w, p in log.acked}
    return {"acked_writes_lost": max((len(v) for v in lost.values()), default=0),
            "lost_ids": {s: v[:20] for s, v in lost.items() if v},
            "nodes_read": sorted(copies), "unknown_writes": len(log.unknown),
            "unknown_writes_stored": len(log.unknown & stored),
            "phantom_rows": len(stored - acked_payloads - log.unknown)}


def read_your_writes(experiment, log: WriteLog, reads: int = 10) -> dict:
    """Reads through the VIP after failover: each must hold every write acknowledged before it
    was sent (all of them, not just the highest id). A read that gets no answer is counted apart
    (failed_reads); if none answers, the check saw nothing: ExperimentError."""
    node, site = experiment.testbed.net[experiment.site.clients[0]], experiment.site
    first_id = min(i for i, _w, _p in log.acked)
    stale, failed = [], []
    for _ in range(reads):
        sent = time.time()
        must_see = {key for key, t in log.acked.items() if t < sent}
        response = https_request(node, site, f"/read?from={first_id}")
        if not response.ok:
            failed.append({"t": sent, "server": response.served_by, "error": response.error or response.status})
            continue
        seen = {(int(i), w, p) for i, w, p in json.loads(response.body)["rows_from"]}
        missing = must_see - seen
        if missing:
            stale.append({"server": response.served_by, "missing": len(missing),
                          "missing_ids": sorted(i for i, _w, _p in missing)[:10]})
    if len(failed) == reads:
        raise ExperimentError(f"read-your-writes: none of {reads} reads through the VIP answered "
                              f"(first: {failed[0]['error']})")
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
