"""lb_failover: crash the load balancer that holds the VIP; how long are clients without service?

    client1 ──HTTPS every 10 ms──▶ VIP ─▶ lb1 (MASTER)  ✗ node crash: interfaces down, then
                                          lb2 (BACKUP)  ─▶ MASTER: VIP + gratuitous ARP      every process killed

Client side: outage and failed requests from the probe's own timestamps. Daemon side: the
survivor's keepalived notify record (MASTER) gives vip_move_ms. Split brain: two live balancers
MASTER at the same time, from the notify records. With the option {"capture": True} a second
witness (experiments/wire.py) captures the client's connections to the VIP with tcpdump and
measures the same outage off the wire ("wire" in the trial).
"""

from __future__ import annotations

import time

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import NodeCrash
from experiments.wire import WireCapture
from runtime.observe import vip_holders
from runtime.wait import wait_until

PROBE_TIMEOUT_S = 1.0  # per request; the wire's rows use it too (no data from the VIP within it: failed)


def master_intervals(events: list[dict], end: float) -> dict[str, list[tuple[float, float]]]:
    """Per host, the [start, end) intervals during which its notify records say MASTER."""
    intervals: dict[str, list[tuple[float, float]]] = {}
    since: dict[str, float] = {}
    for event in sorted(events, key=lambda e: e["t"]):
        host = event["host"]
        if event["state"] == "MASTER":
            since.setdefault(host, event["t"])
        elif host in since:
            intervals.setdefault(host, []).append((since.pop(host), event["t"]))
    for host, start in since.items():
        intervals.setdefault(host, []).append((start, end))
    return intervals


def overlap(intervals: dict[str, list[tuple[float, float]]], since: float = float("-inf")) -> bool:
    """Were two hosts MASTER at the same moment (at or after `since`)?"""
    spans = [(max(s, since), e, h) for h, items in intervals.items() for s, e in items if e > since]
    return any(a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for a in spans for b in spans)


def crash_vip_holder(experiment: Experiment, probe) -> tuple[str, str, NodeCrash]:
    """Crash the balancer holding the VIP (a fault of `experiment`, recovered with its trial);
    return once the survivor holds the VIP and `probe` has 50 successes after the crash:
    (crashed, survivor, fault)."""
    testbed = experiment.testbed
    [holder] = vip_holders(testbed)
    survivor = next(lb for lb in experiment.site.lbs if lb != holder)
    fault = NodeCrash(testbed, holder)
    experiment.inject(fault)
    keepalived = testbed.services.find(survivor, "keepalived")
    wait_until(lambda: keepalived.has_vip(testbed.net[survivor]), 15, f"the VIP moving to {survivor}")
    experiment.wait_successes(probe, fault.injected_at, 50, 20, "HTTPS via the VIP working again")
    return holder, survivor, fault


def vip_move_ms(events: list[dict], survivor: str, fault_t: float) -> float | None:
    """From the notify records: the fault to the survivor's MASTER, ms (None: it never moved)."""
    moved = [e["t"] for e in events if e["host"] == survivor and e["state"] == "MASTER" and e["t"] >= fault_t]
    return round((moved[0] - fault_t) * 1000, 1) if moved else None


class LbFailover(Experiment):
    name = "lb_failover"
    description = "crash the VIP holder; client outage, failed requests, VIP move time, split brain"
    order = 20
    profiles = ("tuned", "stock")
    # Each outage beside its resolution: the probe's spacing, and the fault to the first success
    # (recovery_ms) beside the first failure to the first success (outage_ms).
    headline = ("outage_ms", "recovery_ms", "probe_spacing_ms", "failed_requests", "vip_move_ms", "split_brain_seen")
    metrics = {"outage_ms": "stats", "recovery_ms": "stats", "probe_spacing_ms": "stats", "failed_requests": "stats",
               "vip_move_ms": "stats", "split_brain_seen": "any"}

    accepts = ("capture",)

    def validate(self) -> None:
        super().validate()
        if len(self.site.lbs) < 2:
            raise ExperimentError("lb_failover: needs two load balancers")

    def run_trial(self, index: int) -> dict:
        probe_started = time.time()
        client, label = self.site.clients[0], f"lb-failover-{self.profile}-{index}"
        # options {"capture": True}: a second witness, tcpdump in the client's namespace
        capture = (WireCapture(self.testbed, client, label, str(self.site.vip)).start()
                   if self.options.get("capture") else None)
        try:
            probe = self.start_probe(client, label, interval=0.01, duration=60, timeout=PROBE_TIMEOUT_S)
            try:
                holder, survivor, fault = crash_vip_holder(self, probe)
            finally:
                requests = probe.stop()
        finally:
            wire_rows = capture.stop(PROBE_TIMEOUT_S) if capture is not None else None
        fault_t = fault.injected_at
        result = analysis.outage(requests, fault_t)
        wire = analysis.outage(wire_rows, fault_t) if wire_rows is not None else None
        events = self.vrrp_events(0)
        # A crashed keepalived writes no last record: its mastership ends at the crash.
        live = [e for e in events if e["host"] != holder or e["t"] < fault_t]
        live.append({"t": fault_t, "host": holder, "state": "CRASHED"})
        split = overlap(master_intervals(live, requests[-1].done if requests else time.time()), since=probe_started)
        marks = [(e["t"], f"{e['host']} {e['state']}") for e in events if fault_t <= e["t"] <= fault_t + 10]
        self.save_timeline(requests, fault_t, marks, f"crash of {holder}")
        return {"crashed": holder, "survivor": survivor, "outage_ms": result["outage_ms"],
                "recovery_ms": result["recovery_ms"], "probe_spacing_ms": result["probe_spacing_ms"],
                "failed_requests": result["failed_requests"], "in_flight_at_fault": result.get("in_flight_at_fault"),
                "vip_move_ms": vip_move_ms(events, survivor, fault_t),
                "split_brain_seen": split, "requests": len(requests),
                **({"wire": {"outage_ms": wire["outage_ms"], "recovery_ms": wire["recovery_ms"],
                             "connections": wire["requests"], "failed_connections": wire["failed_requests"],
                             "pcap": capture.pcap.name}} if wire is not None else {})}
