"""controller_failure: stop the (MASTER) OpenFlow controller, cut a link while it is gone.

With two instances (controller.instances: 2, the default) the standby should take over:

    1. MASTER stopped          the standby's heartbeat sees the peer's socket close and claims
                               MASTER (generation + 1) on every switch: takeover_ms is the stop to
                               the standby's "takeover_complete" in its journal
    2. forwarding              the HTTPS probe through the whole window: failed requests
    3. link cut                fast failover in the switches, then the new MASTER's recomputation
                               (its flows_installed after the port-status): rerouted?
    4. a new flow              the new MASTER is told to forget a client ({"op": "forget"}, like
                               clearing a MAC table); the client's next packet must come up as a
                               packet-in and be learned: new_flow_ms is the forget in place to
                               the host's flows in place
    5. old MASTER restarted    it finds its peer MASTER and comes back as standby

With one instance (the lesson): phase 1 has no controller at all; switches are fail-mode secure,
so installed flows keep forwarding; the cut is rerouted only by fast failover (if on), nothing is
learned; the cut may also split the VRRP pair; then the controller is restarted (recovery_ms).

Evidence: the client probe (outage, failed requests per phase) and the controllers' journals.
"""

from __future__ import annotations

import time

from experiments import analysis
from experiments.base import Experiment
from experiments.faults import ControllerStop, LinkDown
from experiments.lb_failover import master_intervals, overlap
from experiments.link_failure import path_under_test
from runtime.wait import wait_until

TAKEOVER_TIMEOUT = 10.0  # the standby must be MASTER well within this; the target is 1 s


class ControllerFailure(Experiment):
    name = "controller_failure"
    description = "stop the controller; does forwarding survive, what happens to a link cut, how fast it recovers"
    order = 70
    headline = ("takeover_ms", "failed_while_controller_down", "rerouted_without_old_master", "new_flow_ms")
    metrics = {"failed_while_controller_down": "sum", "forwarding_survived": "all",
               "served_after_cut_without_controller": "any", "split_brain_seen": "any", "recovery_ms": "stats",
               "outage_after_cut_ms": "stats", "takeover_ms": "stats", "rerouted_without_old_master": "all",
               "reroute_controller_ms": "stats", "new_flow_ms": "stats", "failed_after_cut": "sum"}

    def run_trial(self, index: int) -> dict:
        if self.testbed.controller.redundant:
            return self._standby_trial(index)
        return self._single_trial(index)

    def _standby_trial(self, index: int) -> dict:
        client, (a, b) = path_under_test(self.testbed)
        other = next(c for c in self.site.clients if c != client)
        service = self.testbed.controller
        probe = self.start_probe(client, f"controller-failure-{index}", interval=0.01, duration=90)
        try:
            stop = ControllerStop(self.testbed)
            self.inject(stop)
            standby = next(c for c in service.instances if c is not stop.stopped)
            takeover = wait_until(lambda: next((e for e in standby.events() if e["event"] == "takeover_complete"
                                                and e["t"] >= stop.injected_at), None),
                                  TAKEOVER_TIMEOUT, f"{standby.name} MASTER of every switch", interval=0.02)
            self.wait_successes(probe, takeover["t"], 100, 15, "requests flowing under the new MASTER")
            cut = LinkDown(self.testbed, a, b)
            self.inject(cut)
            self.wait_successes(probe, cut.injected_at, 50, 15, "requests flowing after the cut")
            self.recover_now(cut, "the link back before the new-flow check")
            # A new flow: the new MASTER forgets a client (like clearing a MAC table); the
            # client's next packet must reach it as a packet-in and be learned again.
            mac = self.testbed.plan.host_interfaces(other)[0].mac
            forgotten = standby.request({"op": "forget", "mac": mac})
            # A ping every 50 ms (bounded: 100 of them): the first may still follow OVS's cached
            # datapath flow for a few ms after the table changed, and miss the controller.
            pinger = self.testbed.processes.start(
                f"ping-new-flow-{index}", ["ping", "-n", "-q", "-i", "0.05", "-c", "100", "-W", "1", self.site.vip],
                node=self.testbed.net[other])
            try:
                learned = wait_until(lambda: next((e for e in standby.events() if e["event"] == "flows_installed"
                                                   and e.get("cause") == "host_new" and e.get("mac") == mac
                                                   and e["t"] >= forgotten["t_installed"]), None),
                                     10, f"{standby.name} learning {other} again", interval=0.02)
            finally:
                pinger.stop(1.0)
            self.recover_now(stop, "the old MASTER back, as standby")
        finally:
            requests = probe.stop()
        window = [r for r in requests if stop.injected_at <= r.sent and r.done < cut.injected_at]
        after_cut = [r for r in requests if cut.injected_at <= r.sent < cut.recovered_at]
        installs = [e for e in standby.events() if e["event"] == "flows_installed"
                    and e.get("t_cause", 0) >= cut.injected_at and e["t"] < cut.recovered_at]
        marks = [(takeover["t"], f"{standby.name} MASTER"), (cut.injected_at, f"cut {a}-{b}"),
                 (learned["t"], f"{other} learned again")]
        self.save_timeline(requests, stop.injected_at, marks, f"MASTER stopped, {a}-{b} cut, new flow")
        return {
            "stopped": stop.stopped.name, "new_master": standby.name,
            "takeover_ms": round((takeover["t"] - stop.injected_at) * 1000, 1),
            "claim_to_master_ms": takeover["ms_since_claim"],
            "failed_while_controller_down": sum(not r.ok for r in window),
            "requests_while_controller_down": len(window),
            "forwarding_survived": bool(window) and all(r.ok for r in window),
            "link": f"{a}-{b}", "failed_after_cut": sum(not r.ok for r in after_cut),
            "rerouted_without_old_master": bool(installs),
            "reroute_controller_ms": installs[0]["ms_since_cause"] if installs else None,
            # from the forget being in place to the re-learned host's flows in place: includes the
            # ping's start inside the host (~ms), then packet-in, learning and flow-mods
            "new_flow_ms": round((learned["t"] - forgotten["t_installed"]) * 1000, 1),
        }

    def _single_trial(self, index: int) -> dict:
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

