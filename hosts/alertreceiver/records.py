"""What the alert receiver records: one JSON line per alert per notification delivered, in one
file the recorders of every monitor host share; and the pure reader that counts deliveries.

    Alertmanager (webhook, version 4)                         <run>/logs/alerts-received.jsonl
    {"receiver", "status", "groupKey",        record_lines()   {"t", "recorder", "receiver", "status",
     "alerts": [{"status", "labels",      ─────────────────▶    "alertname", "instance", "fingerprint",
                 "fingerprint", ...}]}      one line per alert   "startsAt", "groupKey"}

Nothing is deduplicated here, on purpose: a notification the Alertmanager pair failed to
deduplicate shows as a second line for the same alert, which is what a test must see.
Each line is written by one write() on a file opened with O_APPEND, so two recorders (two
processes, one filesystem) never interleave; lines are kept below PIPE_BUF (4096 bytes) all
the same, the size POSIX guarantees as atomic.
"""

from __future__ import annotations

import json
from pathlib import Path

LINE_LIMIT = 4000  # bytes, newline included: below PIPE_BUF
_KEY_LIMIT = 1000  # characters of groupKey kept (with group_by ['...'] it lists every label)


def record_lines(payload: dict, recorder: str, now: float) -> list[bytes]:
    """The lines to append for one webhook notification `payload`, received by `recorder` (a host)."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        record = {"t": round(now, 6), "recorder": recorder, "receiver": payload.get("receiver", ""),
                  "status": alert.get("status", payload.get("status", "")),
                  "alertname": labels.get("alertname", ""), "instance": labels.get("instance", ""),
                  "fingerprint": alert.get("fingerprint", ""), "startsAt": alert.get("startsAt", ""),
                  "groupKey": str(payload.get("groupKey", ""))[:_KEY_LIMIT]}
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        if len(line) > LINE_LIMIT:  # absurdly long label values: keep the line whole, not the values
            record.update({k: str(record[k])[:200] for k in ("alertname", "instance", "groupKey")})
            line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        lines.append(line)
    return lines


def deliveries(path: Path | str) -> list[dict]:
    """Every recorded delivery, in the order written (none when nothing was delivered yet). A
    last line still being written (no newline yet) is left out."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text()
    complete = text if text.endswith("\n") else text.rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def count_deliveries(records: list[dict], alertname: str, instance: str, status: str = "firing") -> int:
    """How many notifications delivered this alert in this status, every recorder together.
    1 is the goal: 0 is a lost alert, 2 a duplicate (the pair did not deduplicate)."""
    return sum(1 for r in records
               if r["alertname"] == alertname and r["instance"] == instance and r["status"] == status)
