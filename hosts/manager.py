"""Start and stop every daemon of the site in order, IPMininet-style: render all, check all, then
start stage by stage, each stage ready (with a deadline) before the next; stop in reverse.

    stage 0  firewall (iptables)        every host
    stage 1  mariadb                     servers        (replicas attach to the primary after ready)
    stage 2  app, exporters              servers, lbs, monitor
    stage 3  nginx                       servers
    stage 4  haproxy                     lbs
    stage 5  keepalived                  lbs
    stage 6  prometheus                  monitor

Each process runs in the foreground inside its host (`mnexec -da <host pid>` via node.popen), its
output goes to logs/<host>-<daemon>.log and its pid is recorded before anything waits on it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from hosts.daemon import Daemon, ServiceError
from hosts.site import Site
from topo import command
from topo.runstate import ProcessRecord, RunDir
from topo.wait import NotReadyError, wait_until


class ServiceManager:
    def __init__(self, site: Site, daemons: list[Daemon]):
        self.site = site
        self.daemons = sorted(daemons, key=lambda d: d.stage)
        self.processes: dict[str, tuple[subprocess.Popen, ProcessRecord]] = {}
        self.timings: dict[str, float] = {}

    def missing_binaries(self) -> list[tuple[str, str]]:
        """(binary, Debian package) for every daemon program not installed."""
        seen = {}
        for daemon in self.daemons:
            if daemon.binary not in seen and shutil.which(daemon.binary) is None:
                seen[daemon.binary] = daemon.package
        return list(seen.items())

    def daemons_on(self, host: str) -> list[Daemon]:
        return [d for d in self.daemons if d.host == host]

    def find(self, host: str, name: str) -> Daemon:
        for daemon in self.daemons:
            if daemon.host == host and daemon.name == name:
                return daemon
        raise KeyError(f"no daemon {name!r} on {host}")

    # -- configuration ----------------------------------------------------------------------------
    def write_configs(self) -> None:
        for daemon in self.daemons:
            for path, text in daemon.files().items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                if text.startswith("#!"):
                    path.chmod(0o755)
        for sub in ("logs", "s"):
            (self.site.run_path / sub).mkdir(parents=True, exist_ok=True)

    def check_configs(self, net) -> None:
        """Run every daemon's own config check before anything starts."""
        for daemon in self.daemons:
            argv = daemon.check_command()
            if argv is None:
                continue
            result = command.run(argv, net[daemon.host], check=False, timeout=30)
            if not result.ok:
                detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
                raise ServiceError(f"{daemon.label}: configuration check `{' '.join(argv)}` failed: "
                                   f"{' | '.join(detail)}")

    # -- start / stop -----------------------------------------------------------------------------
    def start(self, net, run_dir: RunDir) -> None:
        began = time.monotonic()
        self.write_configs()
        self.check_configs(net)
        stages = defaultdict(list)
        for daemon in self.daemons:
            stages[daemon.stage].append(daemon)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for stage in sorted(stages):
                group = stages[stage]
                list(pool.map(lambda d: d.prepare(net[d.host]), group))
                for daemon in group:
                    self._spawn(daemon, net, run_dir)
                list(pool.map(lambda d: self._wait_ready(d, net), group))
                list(pool.map(lambda d: d.after_ready(net[d.host]), group))
                self.timings[f"stage {stage} ({', '.join(sorted({d.name for d in group}))})"] = \
                    round(time.monotonic() - began, 3)

    def _spawn(self, daemon: Daemon, net, run_dir: RunDir) -> None:
        argv = daemon.command()
        if argv is None:
            return
        daemon.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(daemon.log_path, "ab") as log:
            proc = net[daemon.host].popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        # mnexec -d makes each daemon lead its own process group: signal the group, so workers
        # (nginx, gunicorn) never outlive their master and keep a port bound.
        record = run_dir.record_process(daemon.label, proc.pid, group=True)
        self.processes[daemon.label] = (proc, record)

    def _wait_ready(self, daemon: Daemon, net) -> None:
        node = net[daemon.host]

        def ready_or_dead() -> bool:
            if not self.running(daemon) and daemon.command() is not None:
                raise ServiceError(f"{daemon.label} exited during start-up; see {daemon.log_path}: "
                                   f"{_tail(daemon.log_path)}")
            return daemon.is_ready(node)

        try:
            wait_until(ready_or_dead, daemon.ready_timeout, f"{daemon.label} ready")
        except NotReadyError as exc:
            if not self.running(daemon) and daemon.command() is not None:
                raise ServiceError(f"{daemon.label} exited during start-up; see {daemon.log_path}: "
                                   f"{_tail(daemon.log_path)}") from None
            raise NotReadyError(f"{exc}; see {daemon.log_path}") from None

    def running(self, daemon: Daemon) -> bool:
        entry = self.processes.get(daemon.label)
        return entry is not None and entry[0].poll() is None

    def pid(self, daemon: Daemon) -> int | None:
        entry = self.processes.get(daemon.label)
        return entry[0].pid if entry and entry[0].poll() is None else None

    def stop_daemon(self, daemon: Daemon, timeout: float = 5.0) -> None:
        entry = self.processes.get(daemon.label)
        if entry is None:
            return
        proc, record = entry
        record.send(signal.SIGTERM)  # the group: also workers whose master was killed by a fault
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            record.send(signal.SIGKILL)
            proc.wait()

    def restart_daemon(self, daemon: Daemon, net, run_dir: RunDir) -> None:
        """Start a stopped daemon again (a fault's recovery) and wait until it is ready."""
        if self.running(daemon):
            return
        daemon.prepare(net[daemon.host])
        self._spawn(daemon, net, run_dir)
        self._wait_ready(daemon, net)

    def stop(self) -> None:
        """Stop every started process, highest stage first; each stage's processes in parallel."""
        stages = defaultdict(list)
        for daemon in self.daemons:
            if daemon.label in self.processes:
                stages[daemon.stage].append(daemon)
        for stage in sorted(stages, reverse=True):
            for daemon in stages[stage]:
                self.processes[daemon.label][1].send(signal.SIGTERM)
            deadline = time.monotonic() + 5.0
            for daemon in stages[stage]:
                proc, record = self.processes[daemon.label]
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    record.send(signal.SIGKILL)
                    proc.wait()


def _tail(path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"

