"""HAProxy on every load balancer: TLS passthrough from the VIP to the servers.

              internet (VIP network)                           service (back-end network)
                                     ┌──────── lbN ─────────┐
  client ──▶ VIP:443 ───────────────▶│ frontend https_in    │── roundrobin ──▶ server1:443  (active)
             (mode tcp: TLS is not   │   mode tcp           │                  server2:443  (active)
              terminated here)       │ backend servers      │                  server3:443  backup
  client ──▶ VIP:80  ───────────────▶│ frontend http_in     │  checks: TLS (check-ssl, CA-verified)
             301 → https://          │   mode http          │    GET /health HTTP/1.1, Host www...
                                     │ frontend metrics     │  agent-check :9999 → weight "75%"
                     monitor ───────▶│  <back-leg ip>:8404  │
                                     └─ stats socket ───────┘
                                        <run>/s/<lb>-haproxy.sock (level admin)

Both load balancers run HAProxy bound to the VIP all the time (non-local bind, set per network
namespace in prepare()), and each checks the servers itself; keepalived only decides which one
receives the VIP's packets. Server state changes are logged on stdout with ISO timestamps
(microseconds), which the manager writes to logs/<lb>-haproxy.log: parse_state_changes() reads
them back for detection times. (HAProxy also prints each alert on stderr as "[WARNING] (pid) :
...", without a time; those duplicates are ignored. `option log-health-checks` adds every check
verdict change, e.g. the first failed check, with a time too.)

Check intervals are topo/check_budget.py's: the configured ones, stretched when balancers ×
servers would exceed the budget of checks per second (the rendered file says which, and why).

HAProxy writes no pid file in foreground mode (-db ignores -p), and keepalived's check needs
this host's HAProxy pid: the command writes the pid file itself, then execs HAProxy (same pid).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hosts.daemon import Daemon, ServiceError, render
from hosts.site import HEALTH_PATH
from runtime import command
from topo.check_budget import check_timers

BACKEND = "servers"

# '2026-11-24T06:48:46.519744+00:00 Server servers/server1 is DOWN, reason: ...'
_STATE_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d) .*?"
    r"(?:Backup )?Server (?P<backend>[\w.-]+)/(?P<server>[\w.-]+) is (?P<state>UP|DOWN)\b")


@dataclass(frozen=True)
class StateChange:
    time: float  # unix time
    backend: str
    server: str
    state: str  # "UP" or "DOWN"
    line: str


def parse_state_changes(text: str) -> list[StateChange]:
    """Server UP/DOWN transitions from an HAProxy log (the `log stdout format iso` lines)."""
    changes = []
    for line in text.splitlines():
        match = _STATE_LINE.match(line)
        if match:
            when = datetime.fromisoformat(match["time"]).timestamp()
            changes.append(StateChange(when, match["backend"], match["server"], match["state"], line))
    return changes


# '2026-12-04T13:20:30.045628+00:00 Health check for server servers/server1 failed, reason: Layer4
# timeout, check duration: 82ms, status: 0/2 DOWN.' (option log-health-checks)
_CHECK_FAILED = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d) (?:Health|Agent) check for "
    r"(?:backup )?server (?P<backend>[\w.-]+)/(?P<server>[\w.-]+) failed, reason: (?P<reason>.*?)(?:, check duration|, status:|$)")


@dataclass(frozen=True)
class CheckFailure:
    time: float  # unix time
    server: str
    reason: str  # "Layer4 timeout", 'Layer4 connection problem, info: "Connection refused"', ...
    agent: bool  # the agent check (free-capacity reports), not the health check


def parse_check_failures(text: str) -> list[CheckFailure]:
    """Every failed health or agent check, with HAProxy's reason: what a balancer met when a
    server died (silence times out; a live kernel with a dead daemon refuses at once)."""
    failures = []
    for line in text.splitlines():
        match = _CHECK_FAILED.match(line)
        if match:
            when = datetime.fromisoformat(match["time"]).timestamp()
            failures.append(CheckFailure(when, match["server"], match["reason"], " Agent check " in line))
    return failures


def ask(sock: Path, cmd: str, timeout: float = 2.0) -> str:
    """One command on HAProxy's stats socket (non-interactive: HAProxy closes after answering).

    A UNIX socket is a file: every Mininet host shares the file system, so this works from the
    root namespace and needs no socat.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock))
        conn.sendall(cmd.encode() + b"\n")
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class HAProxy(Daemon):
    name = "haproxy"
    binary = "haproxy"
    package = "haproxy"
    stage = 4
    ready_timeout = 10.0

    @property
    def config_path(self) -> Path:
        return self.conf_path("haproxy.cfg")

    @property
    def pidfile(self) -> Path:
        return self.site.pidfile(self.host, self.name)

    @property
    def stats_socket(self) -> Path:
        return self.site.sock(self.host, self.name)

    def sockets(self) -> list[Path]:
        return [self.stats_socket]

    # -- pure -------------------------------------------------------------------------------------
    def files(self) -> dict[Path, str]:
        site = self.site
        servers = [{"name": s, "ip": site.backend_ip(s), "backup": s in site.backup_servers}
                   for s in site.active_servers + site.backup_servers]
        text = render("haproxy.cfg.j2", host=self.host, vip=site.vip, ports=site.services.ports,
                      hp=site.services.haproxy, checks=check_timers(site.topology), servers=servers,
                      metrics_ip=site.backend_ip(self.host),
                      stats_socket=self.stats_socket, ca_file=site.tls_ca, health_path=HEALTH_PATH,
                      server_name=site.services.server_name)
        return {self.config_path: text}

    def check_command(self) -> list[str]:
        return ["haproxy", "-c", "-f", str(self.config_path)]

    def command(self) -> list[str]:
        # `sh` writes its own pid and execs HAProxy, so the file holds HAProxy's pid from the start.
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.pidfile),
                "haproxy", "-db", "-f", str(self.config_path)]

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        # The standby balancer binds the VIP it does not hold yet. The sysctl is per namespace.
        command.run(["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"], node)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)
        self.stats_socket.parent.mkdir(parents=True, exist_ok=True)

    def ask(self, cmd: str, timeout: float = 2.0) -> str:
        try:
            return ask(self.stats_socket, cmd, timeout)
        except OSError as exc:
            raise ServiceError(f"{self.label}: stats socket {self.stats_socket}: {exc}") from None

    def is_ready(self, node) -> bool:
        try:
            return "Pid: " in ask(self.stats_socket, "show info", timeout=1.0)
        except OSError:
            return False

    def stat_rows(self) -> list[dict[str, str]]:
        """`show stat` as dicts (one per frontend, server and backend row)."""
        lines = self.ask("show stat").strip().splitlines()
        if not lines or not lines[0].startswith("# "):
            raise ServiceError(f"{self.label}: unexpected `show stat` answer: {lines[:1]}")
        header = lines[0][2:].split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    def server_rows(self) -> list[dict[str, str]]:
        """`show stat` rows of the servers backend's servers (not its BACKEND/FRONTEND totals)."""
        return [row for row in self.stat_rows()
                if row["pxname"] == BACKEND and row["svname"] not in ("BACKEND", "FRONTEND")]

    def server_states(self, node=None) -> dict[str, str]:
        """{server: status} of the servers backend, as HAProxy says it: "UP", "DOWN", "MAINT",
        "DRAIN", "no check", or a transition such as "UP 1/2" (one failed check of `fall`)."""
        return {row["svname"]: row["status"] for row in self.server_rows()}

    def set_agent_checks(self, servers, enabled: bool) -> None:
        """Agent-check on or off for these servers, at run time (stats socket). Off also puts
        each weight back to the configured one: a disabled agent leaves its last weight."""
        for server in servers:
            self.ask(f"{'enable' if enabled else 'disable'} agent {BACKEND}/{server}")
            if not enabled:
                self.ask(f"set weight {BACKEND}/{server} 100%")

    def server_weights(self, node=None) -> dict[str, int]:
        """{server: current weight}: 100 unless the agent reported a share of free workers."""
        return {row["svname"]: int(row["weight"] or 0) for row in self.server_rows()}

    def state_changes(self) -> list[StateChange]:
        try:
            return parse_state_changes(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return []

    def check_failures(self) -> list[CheckFailure]:
        try:
            return parse_check_failures(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return []

    def status(self, node) -> str:
        try:
            rows = self.server_rows()
        except ServiceError as exc:
            return f"not answering ({exc})"
        parts = []
        for row in rows:
            text = f"{row['svname']} {row['status']}"
            if row["status"].startswith("UP"):
                text += f" w={row['weight']}"
            if row["bck"] == "1":
                text += " (backup)"
            parts.append(text)
        checks = check_timers(self.site.topology)
        stretched = f" (x{checks.stretch:.2f}: check budget)" if checks.stretched else ""
        return ", ".join(parts) + f"; checks every {checks.inter_ms} ms{stretched}"
