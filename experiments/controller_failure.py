"""controller_failure: stop the OpenFlow controller, cut a link while it is gone, restart it.

    1. controller stopped      switches are fail-mode secure: installed flows stay, so traffic on
                               learned paths should keep flowing (established forwarding survives?)
    2. link cut, no controller nobody recomputes paths: traffic over the cut link stops. The
                               cut may also split the VRRP pair (adverts cannot cross): both
                               balancers become MASTER, and clients on the far side follow the
                               second master's gratuitous ARP, so service can come back *without*
                               any reroute (served_after_cut_without_controller, split_brain_seen)
    3. controller restarted    switches reconnect, flows are reinstalled: recovery time

Evidence: the client probe (outage, failed requests per phase) and the controller's journal
(switch_connected events after the restart).
"""

from __future__ import annotations

import time

from experiments import analysis
from experiments.base import Experiment
from experiments.faults import ControllerStop, LinkDown
from experiments.lb_failover import master_intervals, overlap
from experiments.link_failure import path_under_test
from topo.wait import wait_until


class ControllerFailure(Experiment):
    name = "controller_failure"
    description = "stop the controller; does forwarding survive, what happens to a link cut, how fast it recovers"
    order = 70
    headline = ("failed_while_controller_down", "served_after_cut_without_controller", "split_brain_seen",
                "recovery_ms")
    metrics = {"failed_while_controller_down": "sum", "forwarding_survived": "all",
               "served_after_cut_without_controller": "any", "split_brain_seen": "any", "recovery_ms": "stats",
               "outage_after_cut_ms": "stats"}

    def run_trial(self, index: int) -> dict:
        client, (a, b) = path_under_test(self.testbed)
        probe = self.start_probe(client, f"controller-failure-{index}", interval=0.01, duration=90)
        try:
            stop = ControllerStop(self.testbed)
            self.inject(stop)
            # Phase 1: no controller, nothing else changes: 100 requests' worth of evidence.
            self.wait_successes(probe, stop.injected_at, 100, 15, "requests flowing without a controller")
            cut = LinkDown(self.testbed, a, b)
            self.inject(cut)
            # Phase 2: wait for evidence either way (1 s of probe results after the cut).
            wait_until(lambda: any(r.sent > cut.injected_at + 1.0 for r in probe.requests()), 10,
                       "a second of requests after the cut")
            cut_window = [r for r in probe.requests() if cut.injected_at < r.sent <= cut.injected_at + 1.0]
            rerouted = sum(r.ok for r in cut_window[len(cut_window) // 2:]) > 0
            # Phase 3: controller back (recovered here, not at the end, because it is measured).
            self.recover_now(stop, "restart the controller")
            restarted = stop.recovered_at
            self.wait_successes(probe, restarted, 50, 20, "requests flowing after the controller restart")
        finally:
            requests = probe.stop()
        # Phase 1: requests sent and finished with no controller and no cut (one in flight at the
        # cut belongs to phase 2).
        phase1 = [r for r in requests if stop.injected_at <= r.sent and r.done < cut.injected_at]
        recovery = analysis.outage([r for r in requests if r.sent >= cut.injected_at], cut.injected_at)
        back = [r.sent for r in requests if r.ok and r.sent >= restarted]
        # With the link cut and nobody to reroute, the balancers may stop hearing each other.
        split = overlap(master_intervals(self.vrrp_events(0), time.time()), since=cut.injected_at)
        marks = [(cut.injected_at, f"cut {a}-{b}"), (restarted, "controller restarted")]
        marks += [(e["t"], "switch connected") for e in self.testbed.controller.events()
                  if e["event"] == "switch_connected" and e["t"] >= restarted][:1]
        self.save_timeline(requests, stop.injected_at, marks, f"controller stopped, {a}-{b} cut, restart")
        return {
            "failed_while_controller_down": sum(not r.ok for r in phase1),
            "requests_while_controller_down": len(phase1),
            "forwarding_survived": bool(phase1) and all(r.ok for r in phase1),
            "link": f"{a}-{b}",
            "served_after_cut_without_controller": rerouted,
            "split_brain_seen": split,
            "recovery_ms": round((back[0] - restarted) * 1000, 1) if back else None,
            "outage_after_cut_ms": recovery["outage_ms"],
        }
