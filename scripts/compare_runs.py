#!/usr/bin/env python3
"""Two `--experiment all` runs side by side: every failover median of one against the other.

    .venv/bin/python scripts/compare_runs.py results/<time>-all results/<time>-all [--percent 10 --floor-ms 20]

Reads each run's index.json and, for every experiment and profile in both, the medians of the
time metrics (names ending in _ms) from its summary.json. A pair agrees when the difference is
within max(percent of the first run's median, floor) (the issue's "within max(10 %, 20 ms)").
Prints one row per metric; exit 0 when every pair agrees and every experiment passed in both,
1 otherwise, 2 for bad input. Written for the two-machine comparison (docs/machines.md), good for
any two runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runtime.text import format_table  # noqa: E402


def medians(index: Path) -> tuple[dict, dict]:
    """({(experiment, profile, metric): median ms}, {experiment: status}) of one run."""
    runs = json.loads((index / "index.json").read_text())["runs"]
    found, status = {}, {}
    for run in runs:
        status[run["experiment"]] = run["status"]
        summary = json.loads((index / run["dir"] / "summary.json").read_text())
        for profile, metrics in summary.get("metrics", {}).items():
            for name, value in metrics.items():
                if name.endswith("_ms") and isinstance(value, dict) and value.get("median") is not None:
                    found[(run["experiment"], profile, name)] = float(value["median"])
    return found, status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="the reference run's results/<time>-all folder")
    parser.add_argument("second", type=Path, help="the run compared with it")
    parser.add_argument("--percent", type=float, default=10.0)
    parser.add_argument("--floor-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    for folder in (args.first, args.second):
        if not (folder / "index.json").is_file():
            print(f"compare_runs.py: error: {folder}: no index.json (give a results/<time>-all folder)", file=sys.stderr)
            return 2
    (first, first_status), (second, second_status) = medians(args.first), medians(args.second)
    rows, agree = [], True
    for key in sorted(set(first) & set(second)):
        a, b = first[key], second[key]
        allowed = max(args.percent / 100 * a, args.floor_ms)
        ok = abs(b - a) <= allowed
        agree &= ok
        rows.append([*key, f"{a:.1f}", f"{b:.1f}", f"{b - a:+.1f}", f"{allowed:.1f}", "yes" if ok else "NO"])
    print(format_table(["experiment", "profile", "metric", "first ms", "second ms", "difference", "allowed", "within"],
                       rows))
    failed = [f"{e} ({'first' if first_status.get(e) != 'passed' else 'second'})"
              for e in sorted(set(first_status) | set(second_status))
              if first_status.get(e) != "passed" or second_status.get(e) != "passed"]
    print(f"{sum(r[-1] == 'yes' for r in rows)} of {len(rows)} medians within max({args.percent:g} %, "
          f"{args.floor_ms:g} ms)" + (f"; not passed: {', '.join(failed)}" if failed else "; every experiment passed in both"))
    return 0 if agree and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
