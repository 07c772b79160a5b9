"""Ask the servers' capacity agents every interval, from inside a balancer's namespace.

    python3 agent_sampler.py --target server1=10.0.2.11:9999 --target server2=10.0.2.12:9999 \\
                             --interval 0.1 --duration 10 --out agents.csv

One CSV row per answer: t (unix time), server, free (the agent's "<free workers %>%" as a
number; empty if it did not answer within the interval). The same question HAProxy's
agent-check asks (hosts/webapp/capacity.py), so the trace shows what the agent said beside the
weights HAProxy applied. Standard library only: it runs inside an emulated host.
"""

from __future__ import annotations

import argparse
import csv
import socket
import sys
import time


def ask(address: str, port: int, timeout: float) -> float | None:
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            data = conn.recv(64).decode("ascii", "replace").strip()
        return float(data.rstrip("%")) if data.endswith("%") else None
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", action="append", required=True, help="NAME=ADDRESS:PORT")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    targets = []
    for spec in args.target:
        name, _, where = spec.partition("=")
        address, _, port = where.rpartition(":")
        if not name or not address or not port.isdigit():
            print(f"agent_sampler: bad --target {spec!r} (NAME=ADDRESS:PORT)", file=sys.stderr)
            return 2
        targets.append((name, address, int(port)))
    end = time.time() + args.duration
    with open(args.out, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["t", "server", "free"])
        fh.flush()
        next_at = time.monotonic()
        while time.time() < end:
            for name, address, port in targets:
                free = ask(address, port, args.interval)
                out.writerow([f"{time.time():.6f}", name, "" if free is None else f"{free:g}"])
            fh.flush()
            next_at += args.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
