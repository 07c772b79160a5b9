"""One owner for every process the testbed starts: daemons, probes, attacks and the controller.

    owner = ProcessOwner(run_dir)
    proc = owner.start("lb1-haproxy", argv, node=net["lb1"], log=path, group=True)
    proc.wait_ready(check, timeout, "lb1-haproxy ready")  # ProcessError if it exits first
    proc.stop()          # TERM → wait → KILL: "stopped (SIGTERM)", "killed (SIGKILL)" or "had exited"
    stop_all([...])      # the same for many at once, one shared deadline
    proc.tail()          # the last lines of its log, for an error message

        topo/run.py (the owner's process)
          ├─ subprocess.Popen, own session ───▶ controller              (root namespace)
          └─ node.popen = mnexec -da <host pid> ─▶ daemon, probe, attack (inside a host)
                  │ recorded before anything waits on it: <run>/owned.jsonl
                  │   {"kind": "process", "pid", "start" (kernel start time), "group", "signal"}
                  ▼
          stop: signal by recorded pid (or its process group), never by name;
                --clean after a crash: the same, only if pid *and* start time still match

`mnexec -d` makes every host process lead its own process group: a group record signals the
workers too (nginx, gunicorn), so none outlives its master holding a port.

A host on another machine (a split placement, runtime/cluster.py) starts its processes over SSH:
the Popen here is the local ssh, which lives as long as the process does; the record holds the
machine and the pid *there*, and signals and liveness go through that machine (runtime/machines.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from runtime.machines import Machine
from topo.errors import TestbedError
from runtime.wait import NotReadyError, wait_until

T = TypeVar("T")
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


class ProcessError(TestbedError):
    """An owned process exited when it should run, or could not be recorded."""


def process_start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent's wait() is missing
        return None
    return int(fields[19])


READY_TAIL_LINES = 5  # lines of a log quoted when a daemon is not ready in time


def tail(path: Path | str | None, lines: int = 3) -> str:
    """The last `lines` lines of a log, joined for a one-line message."""
    if path is None:
        return "(no log)"
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass(frozen=True)
class ProcessRecord:
    """What the run directory remembers of a process: enough to signal it, and only it, later.
    A process on another machine (a split placement) carries that machine: its pid and start
    time are that machine's, and every question about it is asked there (runtime/machines.py)."""
    name: str
    pid: int
    start: int
    signal: int = signal.SIGTERM
    # Signal the whole process group (a host daemon leads one with its workers).
    group: bool = False
    machine: Machine | None = None

    def alive(self) -> bool:
        if self.machine is not None:
            return self.machine.start_times([self.pid]).get(self.pid) == self.start
        return process_start_time(self.pid) == self.start

    def send(self, sig: int) -> None:
        if self.machine is not None:
            self.machine.signal(sig, [self.pid], group=self.group)
            return
        try:
            if self.group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass


def living(records: Sequence[ProcessRecord]) -> list[ProcessRecord]:
    """Those of `records` whose pid still has its recorded start time: one look at /proc here,
    one round trip per other machine."""
    times: dict[Machine, dict[int, int]] = {}
    for machine in {r.machine for r in records if r.machine is not None}:
        times[machine] = machine.start_times(r.pid for r in records if r.machine == machine)
    return [r for r in records
            if (times[r.machine].get(r.pid) if r.machine is not None else process_start_time(r.pid)) == r.start]


def stop_records(records: Sequence[ProcessRecord], grace: float = 3.0) -> list[ProcessRecord]:
    """Stop recorded processes we hold no handle of (a crashed run's): each one's own stop signal,
    then SIGKILL after `grace`, only while pid and start time match. Returns those signalled."""
    alive = living(records)
    for record in alive:
        record.send(record.signal)
    deadline = time.monotonic() + grace
    while living(alive) and time.monotonic() < deadline:
        time.sleep(0.05)
    for record in living(alive):
        record.send(signal.SIGKILL)
    return alive


@dataclass
class OwnedProcess:
    """A started, recorded process and the handle to wait for it."""
    name: str
    popen: subprocess.Popen
    record: ProcessRecord
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        """The process's pid (on its machine: for a remote one, popen is the local ssh)."""
        return self.record.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        """`sig` as recorded: to the process group (group records) or the pid."""
        if self.record.group or self.running():  # a reaped pid alone may be someone else's now
            self.record.send(sig)

    def signal_leader(self, sig: int) -> None:
        """`sig` to the main pid only, not its workers."""
        if self.running():
            if self.record.machine is not None:
                self.record.machine.signal(sig, [self.record.pid])
            else:
                self.popen.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for the process to exit; False if it still runs."""
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def wait_ready(self, check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
        """Poll `check` until it is truthy (returned), the deadline passes (NotReadyError), or the
        process exits first (ProcessError naming its log)."""
        value = None

        def ready_or_exited():
            nonlocal value
            if not self.running():
                return True
            value = check()
            return value

        try:
            wait_until(ready_or_exited, timeout, what, interval=interval)
        except NotReadyError as exc:
            # The log's last lines go into the message: the run directory holding the log may be
            # gone (a rebuilt testbed) by the time anyone reads it.
            raise NotReadyError(f"{exc}; see {self.log_path}: {self.tail(READY_TAIL_LINES)}") from None
        if not self.running():
            raise ProcessError(f"{self.name} exited (code {self.returncode}) before {what}; "
                               f"see {self.log_path}: {self.tail()}")
        return value

    def stop(self, grace: float = STOP_GRACE, sig: int = signal.SIGTERM) -> str:
        """`sig` (TERM), wait up to `grace`, then SIGKILL; the process is reaped either way.

        A group record signals the group even when its leader has gone: workers a killed master
        left behind still hold its ports."""
        was_running = self.running()
        self.send(sig)
        if self.wait(grace):
            return f"stopped ({signal.Signals(sig).name})" if was_running else "had exited"
        self.record.send(signal.SIGKILL)
        self.popen.wait()
        return "killed (SIGKILL)"

    def tail(self, lines: int = 3) -> str:
        return tail(self.log_path, lines)


def stop_all(processes: Sequence[OwnedProcess], grace: float | Sequence[float] = STOP_GRACE) -> None:
    """Stop many at once: TERM to all, then SIGKILL to each still running `grace` seconds later
    (one grace for all, or one per process)."""
    graces = [grace] * len(processes) if isinstance(grace, (int, float)) else list(grace)
    for proc in processes:
        proc.send(signal.SIGTERM)
    began = time.monotonic()
    for proc, allowed in sorted(zip(processes, graces), key=lambda pair: pair[1]):
        if not proc.wait(max(0.0, began + allowed - time.monotonic())):
            proc.record.send(signal.SIGKILL)
            proc.popen.wait()


class ProcessOwner:
    """Starts processes and records each in the run directory before anything waits on it."""

    def __init__(self, run_dir):
        self.run_dir = run_dir

    def start(self, name: str, argv: Sequence[str], *, node=None, log: Path | None = None,
              group: bool = False, cwd: Path | None = None, env: dict | None = None) -> OwnedProcess:
        """Start `argv` inside `node` (a Mininet host) or, with node=None, in the root namespace
        in a session of its own (a Ctrl-C at the terminal reaches topo/run.py, which stops it
        in order). Output goes to `log` (appended) or nowhere."""
        argv = [str(a) for a in argv]
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
        machine = getattr(node, "machine", None)
        if machine is not None:
            return self._start_remote(name, argv, node, log, group, cwd, env)
        with open(log if log is not None else os.devnull, "ab") as out:
            if node is None:
                popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            else:
                popen = node.popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            record = self.run_dir.record_process(name, popen.pid, group=group)
        except TestbedError:
            popen.wait()
            raise ProcessError(f"{name} exited at once (code {popen.returncode}); see {log}: {tail(log)}") from None
        return OwnedProcess(name, popen, record, Path(log) if log is not None else None)

    def _start_remote(self, name, argv, node, log, group, cwd, env) -> OwnedProcess:
        """The same on another machine (runtime/cluster.py's spawn): recorded under its machine,
        by its pid there."""
        if cwd is not None or env is not None:
            raise ProcessError(f"{name}: a working directory or environment cannot be passed to "
                               f"{node.machine.name} (start it through a wrapper script instead)")
        popen, pid = node.spawn(argv, log if log is not None else os.devnull)
        try:
            self.run_dir.record_process(f"{name}-ssh", popen.pid)  # the local end: it ends with the process
            record = self.run_dir.record_process(name, pid, group=group, machine=node.machine)
        except TestbedError:
            popen.wait()
            raise ProcessError(f"{name} exited at once on {node.machine.name} (code {popen.returncode}); "
                               f"see {log}: {tail(log)}") from None
        return OwnedProcess(name, popen, record, Path(log) if log is not None else None)
