"""The CLI's live views of a running testbed: `probe`, `dist` and `watch`.

    probe [S]   client1 ──HTTPS every 10 ms──▶ VIP      one line, redrawn: requests/s, errors, serving server
    dist [N]    client1 ──N requests, one after another──▶ VIP    requests per server (round robin now)
    watch [S]   VIP holder · HAProxy's view of each server · database roles · controller roles, redrawn

Requests are real HTTPS through the VIP (experiments/probes.py, recorded and stopped like every
process); the views read state the daemons report themselves. Each view is bounded in time
(MAX_SECONDS) and stops at Ctrl-C. rich redraws in place on a terminal; in a pipe or a --script,
only the final picture is printed.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from experiments.probes import HttpsProbe, Request
from runtime.observe import vip_holders
from runtime.text import wall_clock

MAX_SECONDS = 3600  # no view runs longer, whatever it is asked
PROBE_INTERVAL = 0.01  # 100 requests/s: fine-grained enough to see a failover of tens of ms
WINDOW = 1.0  # requests/s and recent errors are over the last second


def probe_line(requests: list[Request], now: float, began: float) -> str:
    """One line about the probe so far: rate over the last WINDOW, errors, who served last."""
    recent = [r for r in requests if r.done >= now - WINDOW]
    failed = [r for r in requests if not r.ok]
    last_ok = next((r for r in reversed(requests) if r.ok), None)
    last_error = (failed[-1].error or f"HTTP {failed[-1].status}") if failed else ""
    serving = last_ok.served_by if last_ok and recent and recent[-1].ok else "nobody"
    return (f"{now - began:5.1f} s  {len(recent) / WINDOW:5.0f} req/s  ok {len(requests) - len(failed)}  "
            f"errors {len(failed)} ({sum(1 for r in recent if not r.ok)} in the last second"
            f"{', last: ' + last_error if failed else ''})  serving: {serving}")


def distribution_lines(requests: list[Request], servers: list[str], backups: list[str]) -> list[str]:
    """Requests per server with their share, the backup marked; failures counted apart."""
    counts = Counter(r.served_by for r in requests if r.ok)
    total = sum(counts.values())
    lines = []
    for server in servers + sorted(set(counts) - set(servers)):
        role = "backup" if server in backups else "active"
        share = counts[server] / total * 100 if total else 0.0
        lines.append(f"{server:<10} {role:<7} {counts[server]:>6}  {share:5.1f} %")
    lines.append(f"{len(requests)} requests, {total} served, {len(requests) - total} failed")
    return lines


def run_probe(testbed, seconds: float, console) -> str:
    """HTTPS through the VIP from the first client for `seconds`, one line redrawn; Ctrl-C stops it."""
    from rich.live import Live
    from rich.text import Text

    seconds = min(seconds, MAX_SECONDS)
    probe = HttpsProbe(testbed, testbed.site.clients[0], interval=PROBE_INTERVAL, duration=seconds,
                       label=f"cli-probe-{int(time.time() * 1000)}")
    probe.start()
    line = "starting"
    try:
        with Live(Text(line), console=console, refresh_per_second=8) as live:
            while probe.running():
                line = probe_line(probe.requests(), time.time(), probe.started)
                live.update(Text(line))
                time.sleep(0.2)
            line = probe_line(probe.requests(), time.time(), probe.started)
            live.update(Text(line))
    except KeyboardInterrupt:
        pass
    finally:
        probe.stop()
        _end_line(console)
    return line


def run_distribution(testbed, count: int) -> list[str]:
    """`count` sequential requests through the VIP (each one after the previous has finished)."""
    probe = HttpsProbe(testbed, testbed.site.clients[0], sequential=True, interval=0.0, count=count,
                       duration=min(MAX_SECONDS, 60 + count * 0.1), label=f"cli-dist-{int(time.time() * 1000)}")
    probe.start()
    try:
        requests = probe.wait()
    finally:
        if probe.running():
            probe.stop()
    topology = testbed.topology
    servers = topology.hosts_with_role("server")
    return distribution_lines(requests, servers, [s for s in servers if topology.hosts[s].backup])


def watch_lines(testbed) -> list[str]:
    """Who does what right now, as the daemons themselves report it."""
    holders = vip_holders(testbed)
    lines = [f"{wall_clock(time.time())}  VIP {testbed.site.vip}: "
             f"{', '.join(holders) or 'nobody'}{'  SPLIT BRAIN' if len(holders) > 1 else ''}"]
    services = testbed.services
    for daemon in (d for d in services.daemons if d.name == "haproxy"):
        try:
            states = daemon.server_states(testbed.net[daemon.host])
            seen = "  ".join(f"{server} {state}" for server, state in states.items())
        except Exception as exc:  # a dead balancer is what the user may be looking at
            seen = f"not answering ({type(exc).__name__})"
        lines.append(f"  {daemon.host:<8} haproxy sees: {seen}")
    for daemon in (d for d in services.daemons if d.name == "mariadb"):
        state = daemon.status(testbed.net[daemon.host]) if services.running(daemon) else "not running"
        lines.append(f"  {daemon.host:<8} database: {state}")
    for instance in testbed.controller.instances:
        answer = instance.role()
        lines.append(f"  {instance.name:<8} OpenFlow role: "
                     + (f"{answer['role'].upper()} (generation {answer['generation']})" if answer else "not answering"))
    return lines


def run_watch(testbed, seconds: float, console) -> None:
    """watch_lines() redrawn every half second for `seconds` or until Ctrl-C."""
    from rich.live import Live
    from rich.text import Text

    end = time.monotonic() + min(seconds, MAX_SECONDS)
    try:
        with Live(Text("\n".join(watch_lines(testbed))), console=console, refresh_per_second=4) as live:
            while time.monotonic() < end:
                time.sleep(0.5)
                live.update(Text("\n".join(watch_lines(testbed))))
    except KeyboardInterrupt:
        pass
    finally:
        _end_line(console)


def _end_line(console) -> None:
    """Off a terminal, rich prints the last picture without ending its line."""
    if not console.is_terminal:
        console.line()


def console():
    """rich's console on the CLI's stdout (plain when that is not a terminal)."""
    from rich.console import Console

    # Off a terminal nothing is redrawn: no reason to wrap lines at rich's default 80 columns.
    return Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 200)
