"""Plain text for people: tables for the terminal (status, the results table, the SPOF table)
and unix times as local wall-clock time."""

from __future__ import annotations

from datetime import datetime


def wall_clock(t: float, date: bool = False) -> str:
    """A unix time as local wall-clock time to the millisecond: 14:03:07.250 (with the date first
    when asked: 2026-11-30 14:03:07.250)."""
    return datetime.fromtimestamp(t).strftime(("%Y-%m-%d " if date else "") + "%H:%M:%S.%f")[:-3]


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
