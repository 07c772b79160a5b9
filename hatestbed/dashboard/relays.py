"""The monitoring pages of the emulated site, opened from the VM's own browser through loopback.

    VM browser ──▶ 127.0.0.1:<port> ── socat (root namespace) ──▶ <run>/s/ui-<name>.sock
                                                                      │ one filesystem
                   monitor: socat (its namespace) ◀───────────────────┘
                              └──▶ <monitor>:9090  Prometheus   (and :9093 Alertmanager)
                   lbN:     socat (its namespace) ──▶ <lbN back leg>:8404/stats  HAProxy's stats

The emulated hosts have no route to the root namespace (nor it to them), on purpose; a pair of
socat relays joined by a UNIX socket crosses the namespace boundary for these pages only. The
root-namespace end binds 127.0.0.1 and nothing else: nothing listens beyond the VM. Both ends
are processes of the run, recorded and stopped by pid like every other (by process group: socat
forks a child per connection).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from runtime.wait import wait_until


@dataclass(frozen=True)
class Relay:
    name: str  # prometheus-monitor, alertmanager-monitor2, haproxy-lb1
    title: str
    host: str
    target: str  # address:port inside the host's namespace
    path: str  # the page to open


def relays_for(testbed) -> list[Relay]:
    """The monitoring pages this testbed has: each monitor's Prometheus and Alertmanager, each
    balancer's HAProxy statistics page."""
    services = testbed.services
    if services is None:
        return []
    found = []
    for daemon in services.daemons:
        if daemon.name == "prometheus":
            found.append(Relay(f"prometheus-{daemon.host}", f"Prometheus on {daemon.host}", daemon.host,
                               daemon.address, "/classic/alerts"))  # Debian builds the classic UI only
        elif daemon.name == "alertmanager":
            found.append(Relay(f"alertmanager-{daemon.host}", f"Alertmanager on {daemon.host}", daemon.host,
                               daemon.address, "/#/alerts"))
        elif daemon.name == "haproxy":
            address = f"{testbed.site.backend_ip(daemon.host)}:{testbed.site.services.ports.haproxy_metrics}"
            found.append(Relay(f"haproxy-{daemon.host}", f"HAProxy statistics on {daemon.host}", daemon.host,
                               address, "/stats"))
    return found


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_relays(testbed, relays: list[Relay], timeout: float = 5.0) -> tuple[list[dict], list]:
    """Both socat ends of every relay, started and recorded; ([{name, title, url}], the processes)
    once each loopback port listens."""
    opened, processes = [], []
    log = testbed.run_dir.sub("logs") / "ui-relays.log"
    for relay in relays:
        sock = testbed.run_dir.sub("s") / f"ui-{relay.name}.sock"
        sock.unlink(missing_ok=True)
        inside = ["socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:{relay.target}"]
        processes.append(testbed.processes.start(f"ui-{relay.name}-inside", inside, node=testbed.net[relay.host],
                                                 group=True, log=log))
        port = free_loopback_port()
        outside = ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{sock}"]
        processes.append(testbed.processes.start(f"ui-{relay.name}-loopback", outside, group=True, log=log))
        opened.append((relay, port, sock))
    for relay, port, sock in opened:
        wait_until(lambda: sock.exists() and listening(port), timeout, f"the {relay.title} relay on 127.0.0.1:{port}")
    links = [{"name": r.name, "title": r.title, "url": f"http://127.0.0.1:{port}{r.path}"} for r, port, _ in opened]
    return links, processes


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
