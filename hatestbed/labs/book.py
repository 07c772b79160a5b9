"""What a student recorded in this session: predictions and measured answers, one JSON line
each in <run>/lab-book.jsonl, written by the CLI's `lab predict|answer` and the page alike.

    {"t": 1796480000.1, "lab": 2, "key": "vip-move-ms", "kind": "predict", "value": "100"}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from runtime.jsonl import read_jsonl

KINDS = ("predict", "answer")


class LabBook:
    def __init__(self, path: Path, since: float):
        self.path, self.since = Path(path), since

    def record(self, lab: int, key: str, kind: str, value: str) -> dict:
        entry = {"t": time.time(), "lab": lab, "key": key, "kind": kind, "value": value}
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        return entry

    def latest(self, lab: int, key: str, kind: str) -> dict | None:
        """The last record of this step and kind in this session."""
        found = [r for r in read_jsonl(self.path)
                 if r["t"] >= self.since and (r["lab"], r["key"], r["kind"]) == (lab, key, kind)]
        return found[-1] if found else None


def lab_book(testbed, board) -> LabBook:
    """The session's book: in the run directory, records from the session's start (the board's)."""
    return LabBook(testbed.run_dir.path / "lab-book.jsonl", since=board.started)
