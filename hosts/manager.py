"""Start and stop every daemon of the site in order, IPMininet-style: render all, check all, then
start stage by stage, each stage ready (with a deadline) before the next; stop all at once. A
daemon that names a later stage as the first to need it (`ready_by`) is waited for only there.

    stage 0  firewall (iptables)        every host
             alertmanager               monitors       (ready by stage 6: its gossip settles
                                                        while the databases come up)
    stage 1  mariadb                     servers        (replicas attach to the primary after ready;
                                                        galera: the bootstrap node only)
    stage 1.5 mariadb                    servers        (galera: the joiners, by state transfer)
    stage 2  app, exporters, failover    servers, lbs, monitor
    stage 3  nginx                       servers
    stage 4  haproxy                     lbs
    stage 5  keepalived                  lbs
    stage 6  prometheus                  monitor

Each process runs in the foreground inside its host (`mnexec -da <host pid>` via node.popen), its
output goes to logs/<host>-<daemon>.log and its pid is recorded before anything waits on it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from hosts.daemon import Daemon, ExitedDuringStartError, ServiceError
from hosts.site import Site
from runtime import command
from runtime.processes import OwnedProcess, ProcessError, ProcessOwner, stop_all
from runtime.wait import wait_until


def by_stage(daemons) -> list[list[Daemon]]:
    """Daemons grouped by start stage, lowest stage first (stop walks it backwards)."""
    stages = defaultdict(list)
    for daemon in daemons:
        stages[daemon.stage].append(daemon)
    return [stages[stage] for stage in sorted(stages)]


def run_checker(argv: list[str], node=None) -> tuple[bool, str]:
    """Run a daemon's config checker (in `node`, or the root namespace): (passed, its last lines)."""
    result = command.run(argv, node, check=False, timeout=30)
    if result.ok:
        return True, ""
    return False, " | ".join((result.stderr.strip() or result.stdout.strip()).splitlines()[-3:])


class ServiceManager:
    def __init__(self, site: Site, daemons: list[Daemon]):
        self.site = site
        self.daemons = sorted(daemons, key=lambda d: d.stage)
        self.processes: dict[str, OwnedProcess] = {}  # daemon label → its process
        self.owner: ProcessOwner | None = None
        self.timings: dict[str, float] = {}
        self._spawning = threading.Lock()

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
    def write_configs(self, daemons: list[Daemon] | None = None) -> None:
        """Render the files of `daemons` (default: every daemon); scripts made executable."""
        for daemon in self.daemons if daemons is None else daemons:
            for path, text in daemon.files().items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                if text.startswith("#!"):
                    path.chmod(0o755)
        for sub in ("logs", "s"):
            (self.site.run_path / sub).mkdir(parents=True, exist_ok=True)

    def check_configs(self, net, daemons: list[Daemon] | None = None) -> None:
        """Run the own config check of `daemons` (default: every daemon) before they start: side by
        side (a dozen short processes, ~0.1 s each), the first failure in daemon order raised."""
        checks = [(daemon, argv) for daemon in (self.daemons if daemons is None else daemons)
                  if (argv := daemon.check_command()) is not None]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda check: run_checker(check[1], net[check[0].host]), checks))
        for (daemon, argv), (ok, detail) in zip(checks, results):
            if not ok:
                raise ServiceError(f"{daemon.label}: configuration check `{' '.join(argv)}` failed: {detail}")

    # -- start / stop -----------------------------------------------------------------------------
    def start(self, net, owner: ProcessOwner) -> None:
        began = time.monotonic()
        self.owner = owner
        self.write_configs()
        self.check_configs(net)
        with ThreadPoolExecutor(max_workers=8) as pool:

            def ready(daemons: list[Daemon]) -> None:
                list(pool.map(lambda d: self._wait_ready(d, net), daemons))
                list(pool.map(lambda d: d.after_ready(net[d.host]), daemons))

            later: list[Daemon] = []  # started, needed ready only by a later stage (ready_by)
            for group in by_stage(self.daemons):
                ready([d for d in later if d.ready_by <= group[0].stage])
                later = [d for d in later if d.ready_by > group[0].stage]
                list(pool.map(lambda d: d.prepare(net[d.host]), group))
                for daemon in group:
                    self._spawn(daemon, net)
                ready([d for d in group if d.ready_by is None])
                later += [d for d in group if d.ready_by is not None]
                self.timings[f"stage {group[0].stage} ({', '.join(sorted({d.name for d in group}))})"] = \
                    round(time.monotonic() - began, 3)
            ready(later)

    def _spawn(self, daemon: Daemon, net) -> None:
        argv = daemon.command()
        if argv is None:
            return
        # group=True: signal the daemon's process group, so workers (nginx, gunicorn) never
        # outlive their master and keep a port bound. One spawn at a time: a restart's daemons
        # start from threads, and each start appends its record to the run's journal.
        with self._spawning:
            self.processes[daemon.label] = self.owner.start(daemon.label, argv, node=net[daemon.host],
                                                            log=daemon.log_path, group=True)

    def _wait_ready(self, daemon: Daemon, net) -> None:
        node = net[daemon.host]
        proc = self.processes.get(daemon.label)
        if proc is None:  # a host setting (the firewall), applied in prepare()
            wait_until(lambda: daemon.is_ready(node), daemon.ready_timeout, f"{daemon.label} ready")
            return
        try:
            proc.wait_ready(lambda: daemon.is_ready(node), daemon.ready_timeout, f"{daemon.label} ready")
        except ProcessError:
            raise ExitedDuringStartError(f"{daemon.label} exited during start-up; see {daemon.log_path}: "
                                         f"{proc.tail()}") from None

    def running(self, daemon: Daemon) -> bool:
        proc = self.processes.get(daemon.label)
        return proc is not None and proc.running()

    def pid(self, daemon: Daemon) -> int | None:
        proc = self.processes.get(daemon.label)
        return proc.pid if proc is not None and proc.running() else None

    def process(self, daemon: Daemon) -> OwnedProcess:
        """The daemon's process (ServiceError if it never had one: a host setting, or not started)."""
        proc = self.processes.get(daemon.label)
        if proc is None:
            raise ServiceError(f"{daemon.label} has no process")
        return proc

    def stop_daemon(self, daemon: Daemon, timeout: float = 5.0) -> None:
        proc = self.processes.get(daemon.label)
        if proc is not None:
            proc.stop(timeout)  # the group: also workers whose master was killed by a fault

    def restart_daemon(self, daemon: Daemon, net) -> list[str]:
        """Start a stopped daemon again (a fault's recovery) and wait until it is ready; started
        once more if it exits first, up to daemon.start_retries times. The exits retried."""
        retried: list[str] = []
        if self.running(daemon):
            return retried
        while True:
            daemon.prepare(net[daemon.host])
            self._spawn(daemon, net)
            try:
                self._wait_ready(daemon, net)
                return retried
            except ExitedDuringStartError as exc:
                if len(retried) >= daemon.start_retries:
                    raise
                retried.append(str(exc))
                daemon.before_retry(net[daemon.host])

    def restart(self, daemons: list[Daemon], net, after_ready: bool = True) -> tuple[list[dict], list[str]]:
        """Restart daemons that are not running, stage by stage (a stage's daemons together, as
        at bring-up, each ready before the next stage), then, per stage, their after_ready()
        (replicas re-attach, one VRRP master) unless after_ready=False. Errors are collected, not
        raised, so one failure does not leave the rest down: (what was done per daemon, errors)."""
        done, errors = [], []
        for group in by_stage(daemons):
            with ThreadPoolExecutor(max_workers=len(group)) as pool:
                outcomes = list(pool.map(lambda d: self._restart_one(d, net), group))
            started = []
            for daemon, (entry, error) in zip(group, outcomes):
                if error:
                    errors.append(error)
                    continue
                done.append(entry)
                if not entry.get("already_running"):
                    started.append(daemon)
            for daemon in started if after_ready else []:
                try:
                    daemon.after_ready(net[daemon.host])
                except Exception as exc:
                    errors.append(f"{daemon.label} after start: {exc}")
        return done, errors

    def _restart_one(self, daemon: Daemon, net) -> tuple[dict | None, str | None]:
        """(what was done, None) or (None, the error) for one daemon of restart()."""
        began = time.time()
        if self.running(daemon):
            return {"daemon": daemon.label, "pid": self.pid(daemon), "already_running": True}, None
        try:
            retried = self.restart_daemon(daemon, net)
        except Exception as exc:
            return None, f"{daemon.label}: {exc}"
        ready = time.time()
        return {"daemon": daemon.label, "pid": self.pid(daemon), "started_at": began, "ready_at": ready,
                "ready_s": round(ready - began, 3), **({"started_again_after": retried} if retried else {})}, None

    def changed_by(self, site: Site, daemons: list[Daemon]) -> tuple[str, ...]:
        """The names of the running daemons whose files `daemons` (the same daemons rendered for
        `site`) would change: what a retime must restart, and nothing else."""
        names = []
        for daemon in daemons:
            if daemon.label not in self.processes or daemon.name in names:
                continue
            if any(not path.exists() or path.read_text() != text for path, text in daemon.files().items()):
                names.append(daemon.name)
        for daemon in daemons:  # restarted with what it watches (Daemon.restarts_with)
            if daemon.label in self.processes and daemon.name not in names \
                    and set(daemon.restarts_with) & set(names):
                names.append(daemon.name)
        return tuple(names)

    def reconfigure(self, site: Site, names: tuple[str, ...], net) -> list[dict]:
        """Give every daemon `site` (same network, other settings), then restart the daemons
        called `names` on every host with their files rendered and checked anew: stopped all at
        once, started stage by stage, each ready, then after_ready() (one VRRP master).
        A timer sweep's step from one setting to the next; ServiceError if any does not return."""
        self.site = site
        for daemon in self.daemons:
            daemon.site = site
        chosen = [d for d in self.daemons if d.name in names and d.label in self.processes]
        # All at once, as at teardown: nothing is measured during a retime, and each keepalived
        # takes ~1 s to stop (one balancer after the other, that was ~1 s per balancer).
        stop_all([self.processes[d.label] for d in chosen], [d.teardown_grace for d in chosen])
        self.write_configs(chosen)
        self.check_configs(net, chosen)
        done, errors = self.restart(chosen, net)
        if errors:
            raise ServiceError(f"reconfigure: {'; '.join(errors)}")
        return done

    def stop(self) -> None:
        """Stop every started process at teardown, all at once, each daemon given its own
        teardown grace. The stage order matters only while the site is up: at teardown nothing
        is served any more, and each daemon's own shutdown (keepalived's priority-0 advert, a
        Galera node leaving the group, Alertmanager's grace) then overlaps instead of adding
        up (4.4 s one stage after another here, ~1 s together)."""
        started = [d for d in self.daemons if d.label in self.processes]
        stop_all([self.processes[d.label] for d in started], [d.teardown_grace for d in started])
