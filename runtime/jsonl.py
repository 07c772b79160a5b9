"""JSON-lines journals (controller events, VRRP notify records, run records): one object per line,
appended by writers that may be killed mid-line, so a torn line is skipped, not an error."""

from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return parse_lines(lines)


def parse_lines(lines: list[str]) -> list[dict]:
    """The records of these lines; a torn or foreign line is skipped."""
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class LineTail:
    """A log read as it grows: each read() returns only the whole lines written since the last
    one (a line still being written waits for its end). The dashboard polls a handful of logs
    ten times a second for as long as a class runs, and the experiments poll their probes' CSV
    files (experiments/probes.py); reading each from the start every time would cost more the
    longer it ran."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0

    def read(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                if f.seek(0, 2) < self.offset:  # replaced by a shorter file: start again
                    self.offset = 0
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        whole = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        return whole.decode(errors="replace").splitlines()


class JsonlTail(LineTail):
    """A JSON-lines journal read as it grows: the records of the new whole lines, torn ones skipped."""

    def records(self) -> list[dict]:
        return parse_lines(self.read())
