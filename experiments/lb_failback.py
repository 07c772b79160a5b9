"""lb_failback: bring the crashed load balancer back; does the VIP move again (a second outage)?

    crash the VIP holder ─▶ survivor takes the VIP ─▶ [measured from here] restore the crashed one
      preempt false (default): the VIP stays on the survivor, no second outage expected
      preempt true:            the restored, higher-priority balancer takes the VIP back
"""

from __future__ import annotations

import time

from experiments import analysis
from experiments.lb_failover import LbFailover, crash_vip_holder
from runtime.observe import vip_holders
from runtime.wait import wait_until


class LbFailback(LbFailover):
    name = "lb_failback"
    description = "restore the crashed VIP holder; second outage (if the topology preempts)"
    order = 30
    # Whether the VIP moves back is a matter of preemption, not of timers (with the default
    # nopreempt both profiles showed 0 ms and no move): one profile; lb_failover compares them.
    profiles = ("tuned",)
    headline = ("outage_ms", "failed_requests", "vip_moved_back")
    metrics = {"outage_ms": "stats", "failed_requests": "stats", "vip_moved_back": "any", "preempt": "any"}

    def run_trial(self, index: int) -> dict:
        probe = self.start_probe(self.site.clients[0], f"lb-failback-{self.profile}-{index}",
                                 interval=0.01, duration=90)
        try:
            holder, survivor, fault = crash_vip_holder(self, probe)
            # The measured event is the restore: recover now rather than at the end of the trial.
            self.recover_now(fault, f"restore {holder}")
            restored_at = fault.recovered_at
            keepalived = self.testbed.services.find(holder, "keepalived")
            # The restored balancer has settled when its keepalived reports a state after restart.
            wait_until(lambda: any(e["host"] == holder for e in self.vrrp_events(restored_at)), 15,
                       f"{holder}'s keepalived reporting a state after the restore")
            if self.site.services.keepalived.preempt:
                wait_until(lambda: keepalived.has_vip(self.testbed.net[holder]), 15, f"{holder} taking the VIP back")
            self.wait_successes(probe, time.time(), 50, 20, "HTTPS via the VIP after the restore")
        finally:
            requests = probe.stop()
        # Only requests sent after the restore: the crash's own stragglers (1 s connect timeouts)
        # complete after it and are the first outage, not this one.
        result = analysis.outage([r for r in requests if r.sent >= restored_at], restored_at)
        events = self.vrrp_events(restored_at)
        self.save_timeline(requests, restored_at, [(e["t"], f"{e['host']} {e['state']}") for e in events],
                           f"{holder} restored")
        return {"restored": holder, "outage_ms": result["outage_ms"], "failed_requests": result["failed_requests"],
                "vip_moved_back": vip_holders(self.testbed) == [holder],
                "preempt": self.site.services.keepalived.preempt}
