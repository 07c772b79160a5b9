"""daemon:<daemon>@<host>: one daemon on one host, signalled by its recorded pid.

    DaemonKill    inject: SIGKILL (or another signal) to the daemon's process group (or its pid
                  only, group=False);  recover: restart it (ready, then after_ready)
    DaemonFreeze  inject: SIGSTOP, a hung daemon: alive, port open, answering nothing;
                  recover: SIGCONT
"""

from __future__ import annotations

import signal

from experiments.faults.base import Fault, FaultError, check_host, now, require_services, require_started, signame


class DaemonKill(Fault):
    """A signal to one daemon, by its recorded pid: the whole process group (group=True,
    default: workers die with their master) or the main pid only.

    sig=SIGKILL (default) or SIGTERM: recover() kills what is left of the group and restarts
    the daemon (ready, then after_ready unless after_ready=False).
    sig=SIGSTOP: a hung daemon; recover() sends SIGCONT (see DaemonFreeze).
    Any other signal (SIGHUP...): recover() restarts the daemon only if it has exited.
    """

    kind = "daemon_kill"

    def __init__(self, testbed, host: str, daemon_name: str, sig: int = signal.SIGKILL,
                 group: bool = True, after_ready: bool = True):
        super().__init__(testbed)
        check_host(testbed, host)
        require_services(testbed)
        try:
            self.daemon = testbed.services.find(host, daemon_name)
        except KeyError:
            names = [d.name for d in testbed.services.daemons_on(host)]
            raise FaultError(f"no daemon {daemon_name!r} on {host}; it runs: {', '.join(names) or 'nothing'}") from None
        if self.daemon.command() is None:
            raise FaultError(f"{self.daemon.label} is a host setting, not a process: nothing to signal")
        try:
            self.sig = signal.Signals(sig)
        except ValueError:
            raise FaultError(f"daemon_kill: {sig!r} is not a signal") from None
        self.host = host
        self.group = group
        self.after_ready = after_ready

    @property
    def address(self) -> str:
        return f"daemon:{self.daemon.name}@{self.host}"

    def target(self) -> dict:
        return {"host": self.host, "daemon": self.daemon.name, "signal": self.sig.name, "group": self.group}

    def inject(self) -> dict:
        require_started(self.testbed)
        manager = self.testbed.services
        if not manager.running(self.daemon):
            raise FaultError(f"{self.daemon.label} is not running: nothing to signal")
        proc = manager.process(self.daemon)
        self.injected_at = now()
        if self.group:
            proc.send(self.sig)  # killpg: workers (nginx, gunicorn, keepalived's children) too
        else:
            proc.signal_leader(self.sig)
        sent = {"daemon": self.daemon.label, "pid": proc.pid, "signal": signame(self.sig), "group": self.group}
        if self.sig in (signal.SIGKILL, signal.SIGTERM):
            exited = proc.wait(5.0)  # reaped, bounded
            sent.update({"exited": exited, **({"exited_at": now(), "returncode": proc.returncode} if exited else {})})
        done = now()
        return self._details(injected_at=self.injected_at, done_at=done, **sent)

    def recover(self) -> dict:
        require_started(self.testbed)
        manager = self.testbed.services
        self.recovered_at = now()
        action = "none"
        restarted, errors = [], []
        proc = manager.processes.get(self.daemon.label)
        if self.sig == signal.SIGSTOP and proc is not None:
            proc.send(signal.SIGCONT)
            action = "SIGCONT"
        if not manager.running(self.daemon):
            # The leader is gone; a worker it left (pid signalled alone) may still hold a port.
            if proc is not None:
                proc.send(signal.SIGKILL)
            restarted, errors = manager.restart([self.daemon], self.testbed.net, self.after_ready)
            action = "restart"
        ready = now()
        details = self._details(recovered_at=self.recovered_at, ready_at=ready,
                                duration_s=round(ready - self.recovered_at, 3), action=action,
                                pid=manager.pid(self.daemon), restarted=restarted)
        if errors:
            raise FaultError(f"daemon_kill {self.daemon.label}: recovery failed: {'; '.join(errors)}")
        return details


class DaemonFreeze(DaemonKill):
    """A hung daemon: SIGSTOP to its process group (alive, its port open, answering nothing),
    SIGCONT at recovery. What health checks that only look for a live process miss."""

    kind = "daemon_freeze"

    def __init__(self, testbed, host: str, daemon_name: str):
        super().__init__(testbed, host, daemon_name, sig=signal.SIGSTOP)
