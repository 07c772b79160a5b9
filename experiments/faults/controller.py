"""controller: the OpenFlow controller process stopped, then started again.

    os-ken ✗ ─ ─ ─ s1 s2 s3 s4     switches are fail-mode secure: they keep every flow and forward
                                   what those flows cover; nothing new is learned and link cuts
                                   are not repaired until the controller is back
"""

from __future__ import annotations

from experiments.faults.base import Fault, FaultError, now, require_started
from topo import observe
from topo.wait import NotReadyError, wait_until

# Switches retry a lost controller every <= 1 s (Mininet sets max_backoff to 1 s).
SWITCH_RECONNECT_TIMEOUT = 30.0


class ControllerStop(Fault):
    """inject: SIGTERM to the controller's recorded pid (SIGKILL after 3 s).
    recover: ControllerProcess.start again, then wait until every switch has reconnected and
    been reprogrammed (wiped, then the fabric's flows; hosts are learned again from their next
    packets)."""

    kind = "controller_stop"

    def __init__(self, testbed, timeout: float = SWITCH_RECONNECT_TIMEOUT):
        super().__init__(testbed)
        self.timeout = timeout

    @property
    def address(self) -> str:
        return "controller"

    def inject(self) -> dict:
        require_started(self.testbed)
        controller = self.testbed.controller
        if not controller.alive():
            raise FaultError("controller_stop: the controller is not running")
        pid = controller.process.pid
        before = observe.flow_counts(self.testbed)
        self.injected_at = now()
        how = controller.stop()
        done = now()
        return self._details(injected_at=self.injected_at, done_at=done, pid=pid, stopped=how,
                             returncode=controller.process.returncode,
                             flows_before=before, flows_after=observe.flow_counts(self.testbed))

    def recover(self) -> dict:
        require_started(self.testbed)
        controller, testbed = self.testbed.controller, self.testbed
        self.recovered_at = now()
        if controller.alive():
            return self._details(recovered_at=self.recovered_at, action="none (controller running)",
                                 pid=controller.process.pid)
        controller.start()
        listening = now()
        wanted = {observe.dpid(s): s for s in testbed.topology.switches}
        since = self.recovered_at
        connected: dict[str, float] = {}
        programmed: dict[str, float] = {}

        def all_back() -> bool:
            for event in controller.events():
                if event.get("t", 0) < since:
                    continue
                dpid = event.get("dpid")
                if event["event"] == "switch_connected" and dpid in wanted:
                    connected.setdefault(wanted[dpid], event["t"])
                elif event["event"] == "flows_installed" and event.get("cause") == "switch_connected":
                    for d in event.get("dpids", []):
                        if d in wanted:
                            programmed.setdefault(wanted[d], event["t"])
            return len(programmed) == len(wanted)

        try:
            wait_until(all_back, self.timeout, "every switch reconnected to the restarted controller",
                       interval=0.05)
        except NotReadyError as exc:
            missing = sorted(set(wanted.values()) - set(programmed))
            raise FaultError(f"controller_stop: {exc}; missing: {', '.join(missing)}") from None
        done = now()
        return self._details(recovered_at=self.recovered_at, listening_at=listening, ready_at=done,
                             duration_s=round(done - self.recovered_at, 3), pid=controller.process.pid,
                             switch_connected=connected, switch_programmed=programmed,
                             flows_after=observe.flow_counts(testbed))
