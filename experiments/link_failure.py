"""link_failure: cut the inter-switch link that client traffic is using; how fast does the
controller reroute?

    client2 ── s2 ══✗══ s1 ── lb1 (VIP)      the link on the active path (read from the flow
               ║         ║                   table of client2's switch) goes down; the controller
               s4 ═════ s3                   sees a port-status and installs the detour s2-s4-s3-s1

Client side: the probe's outage. Controller side: port-status → flows confirmed (barrier) from
the controller's event journal.
"""

from __future__ import annotations

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import LinkDown
from topo.observe import active_switch_link, vip_holders


def client_across_switches(testbed, holder: str) -> str:
    """A client whose path to the VIP holder crosses at least one inter-switch link."""
    site = testbed.site
    front = site.interface(holder, site.vip_network)
    holder_switch = next(i.switch for i in testbed.plan.interfaces if i.name == front)
    for client in site.clients:
        if testbed.plan.host_interfaces(client)[0].switch != holder_switch:
            return client
    raise ExperimentError("every client shares a switch with the VIP holder: no link to cut on the path")


def vip_mac(testbed, holder: str) -> str:
    return next(i.mac for i in testbed.plan.host_interfaces(holder) if i.network == testbed.site.vip_network)


def path_under_test(testbed) -> tuple[str, tuple[str, str]]:
    """A client whose traffic to the VIP holder crosses a switch link, and that link."""
    [holder] = vip_holders(testbed)
    client = client_across_switches(testbed, holder)
    return client, active_switch_link(testbed, client, vip_mac(testbed, holder))


class LinkFailure(Experiment):
    name = "link_failure"
    description = "cut the inter-switch link on the active client path; reroute time and failed requests"
    order = 50
    headline = ("reroute_ms", "failed_requests", "controller_ms")
    metrics = {key: "stats" for key in ("reroute_ms", "failed_requests", "port_status_ms", "controller_ms",
                                        "flows_installed_ms")}

    def validate(self) -> None:
        super().validate()
        if not self.site.topology.switch_links:
            raise ExperimentError("link_failure: the topology has no inter-switch links")

    def run_trial(self, index: int) -> dict:
        client, (a, b) = path_under_test(self.testbed)
        probe = self.start_probe(client, f"link-failure-{index}", interval=0.01, duration=60)
        try:
            fault = LinkDown(self.testbed, a, b)
            self.inject(fault)
            self.wait_successes(probe, fault.injected_at, 50, 20, "HTTPS via the VIP after the cut")
        finally:
            requests = probe.stop()
        fault_t = fault.injected_at
        result = analysis.outage(requests, fault_t)
        journal = [e for e in self.testbed.controller.events() if e["t"] >= fault_t]
        installs = [e for e in journal if e["event"] == "flows_installed" and e.get("t_cause", 0) >= fault_t]
        ports = [e for e in journal if e["event"] in ("port_status", "link_down")]
        marks = [(e["t"], f"controller: {e['event']}") for e in ports[:2]]
        marks += [(e["t"], "controller: flows installed") for e in installs[:1]]
        self.save_timeline(requests, fault_t, marks, f"{a}-{b} cut under {client} -> VIP")
        return {"link": f"{a}-{b}", "client": client, "reroute_ms": result["outage_ms"],
                "failed_requests": result["failed_requests"],
                "port_status_ms": round((ports[0]["t"] - fault_t) * 1000, 1) if ports else None,
                "controller_ms": installs[0]["ms_since_cause"] if installs else None,
                "flows_installed_ms": round((installs[0]["t"] - fault_t) * 1000, 1) if installs else None}
