"""controller: the MASTER controller instance stopped, then started again.

    os-ken ✗ ─ ─ ─ s1 s2 s3 s4     switches are fail-mode secure: they keep every flow and forward
    os-ken (standby) ──────┘       what those flows cover; with a standby it claims MASTER within
                                   a heartbeat; with none, nothing new is learned and paths are
                                   repaired only by the switches' fast-failover groups until the
                                   controller is back
"""

from __future__ import annotations

import signal

from experiments.faults.base import Fault, FaultError, now, require_started
from runtime import observe
from runtime.wait import NotReadyError, wait_until

# Switches retry a lost controller every <= 1 s (Mininet sets max_backoff to 1 s).
SWITCH_RECONNECT_TIMEOUT = 30.0


class ControllerStop(Fault):
    """inject: SIGTERM to the MASTER controller instance's recorded pid (SIGKILL after 3 s); with a
    single controller, to the only one. A standby then claims MASTER by itself.
    recover: start that instance again (it comes back as standby if its peer is MASTER), then
    wait until every switch has reconnected to it and is in service from it: programmed (MASTER:
    wiped, then the fabric's flows) or confirmed SLAVE (standby)."""

    kind = "controller_stop"

    def __init__(self, testbed, timeout: float = SWITCH_RECONNECT_TIMEOUT):
        super().__init__(testbed)
        self.timeout = timeout
        self.stopped = None  # the ControllerProcess stopped by inject()

    @property
    def address(self) -> str:
        return "controller"

    def inject(self) -> dict:
        require_started(self.testbed)
        service = self.testbed.controller
        target = service.master() if service.redundant else service.instances[0]
        if target is None or not target.alive():
            raise FaultError("controller_stop: no controller instance is running as MASTER")
        pid = target.process.pid
        before = observe.flow_counts(self.testbed)
        self.injected_at = now()
        how = target.stop()
        done = now()
        self.stopped = target
        return self._details(injected_at=self.injected_at, done_at=done, instance=target.name, pid=pid,
                             stopped=how, returncode=target.process.returncode,
                             flows_before=before, flows_after=observe.flow_counts(self.testbed))

    def recover(self) -> dict:
        require_started(self.testbed)
        testbed = self.testbed
        instance = self.stopped or testbed.controller.instances[0]
        self.recovered_at = now()
        if instance.alive():
            return self._details(recovered_at=self.recovered_at, action=f"none ({instance.name} running)",
                                 pid=instance.process.pid)
        instance.start()
        listening = now()
        wanted = {observe.dpid(s): s for s in testbed.topology.switches}
        since = self.recovered_at
        try:
            wait_until(lambda: instance.connected_dpids(since) >= set(wanted), self.timeout,
                       f"every switch reconnected to the restarted {instance.name}", interval=0.05)
        except NotReadyError as exc:
            missing = sorted(name for d, name in wanted.items() if d not in instance.connected_dpids(since))
            raise FaultError(f"controller_stop: {exc}; missing: {', '.join(missing)}") from None
        done = now()
        roles = [e for e in instance.events() if e["event"] == "role" and e["t"] >= since]
        return self._details(recovered_at=self.recovered_at, listening_at=listening, ready_at=done,
                             duration_s=round(done - self.recovered_at, 3), instance=instance.name,
                             pid=instance.process.pid, role=roles[-1]["role"] if roles else None,
                             flows_after=observe.flow_counts(testbed))


class ControllerFreeze(Fault):
    """inject: SIGSTOP to every controller process (by recorded pid): the switches stay connected
    (a few seconds pass before they would miss their echo replies) but nothing answers them, so
    only the switches themselves act: what a link cut does "without the controller", with no
    restart to pay for. recover: SIGCONT; the controller then handles what it missed, in order.
    Not in the fault catalogue (its address would be `controller`, the stop): experiments use it."""

    kind = "controller_freeze"

    def __init__(self, testbed):
        super().__init__(testbed)
        self.frozen = []  # the ControllerProcess instances inject() stopped

    @property
    def address(self) -> str:
        return "controller"

    def inject(self) -> dict:
        require_started(self.testbed)
        running = [c for c in self.testbed.controller.instances if c.alive()]
        if not running:
            raise FaultError("controller_freeze: no controller is running")
        self.injected_at = now()
        for instance in running:
            instance.process.send(signal.SIGSTOP)
        self.frozen = running
        return self._details(injected_at=self.injected_at, frozen=[c.name for c in running],
                             pids=[c.process.pid for c in running])

    def recover(self) -> dict:
        require_started(self.testbed)
        self.recovered_at = now()
        frozen, self.frozen = self.frozen, []
        for instance in frozen:
            if instance.alive():
                instance.process.send(signal.SIGCONT)
        return self._details(recovered_at=self.recovered_at, thawed=[c.name for c in frozen])
