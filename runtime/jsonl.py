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
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
