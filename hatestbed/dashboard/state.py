"""The live state the page draws, read from the running testbed the way `watch` reads it: what
the daemons and the kernel report themselves, never what the dashboard did.

    fast (5 times a second, cheap)               slow (once a second: a query per database)
      vip: holders (the address on an interface)   daemons: running or not, per host
      vrrp: each balancer's last notify state      switches: connected to the controller
      links: carrier of every port (root ns)       databases: Galera state / replication role
      haproxy: each balancer's view + weights      controllers: OpenFlow role, generation
      alerts: firing now (the receiver's journal)
"""

from __future__ import annotations

from hosts.alert_receiver import deliveries, journal_path as alerts_journal
from runtime.jsonl import read_jsonl
from runtime.observe import carriers, vip_holders


class LiveState:
    def __init__(self, testbed):
        self.testbed = testbed
        plan = testbed.plan
        # Each link by its fault address, with the root-namespace veth ends that show its carrier.
        self.links: dict[str, list[str]] = {}
        for link in plan.switch_links:
            self.links.setdefault(f"link:{link.a}-{link.b}", []).extend(link.intf_names)
        for intf in plan.interfaces:
            self.links.setdefault(f"link:{intf.host}-{intf.switch}", []).append(intf.switch_intf)
        # Daemons that are processes (the firewall is a host setting: nothing runs to be watched).
        services = testbed.services
        self.processes = [d for d in services.daemons if d.command() is not None] if services else []

    def fast(self) -> dict:
        testbed, site = self.testbed, self.testbed.site
        up = carriers(testbed, [i for intfs in self.links.values() for i in intfs])
        state = {"links": {address: all(up[i] for i in intfs) for address, intfs in self.links.items()}}
        if site is None or testbed.services is None:
            return state
        state["vip"] = vip_holders(testbed)
        last: dict[str, str] = {}
        for record in read_jsonl(site.vrrp_events):
            last[record["host"]] = record["state"]
        state["vrrp"] = last
        haproxy = {}
        for daemon in (d for d in testbed.services.daemons if d.name == "haproxy"):
            try:
                haproxy[daemon.host] = {row["svname"]: {"status": row["status"], "weight": int(row["weight"] or 0),
                                                        "backup": row["bck"] == "1"}
                                        for row in daemon.server_rows()}
            except Exception:  # a dead balancer is what the page may be showing
                haproxy[daemon.host] = None
        state["haproxy"] = haproxy
        state["alerts"] = firing(deliveries(alerts_journal(site)))
        return state

    def slow(self) -> dict:
        testbed = self.testbed
        state = {"switches": testbed.switch_connections()}
        controller = testbed.controller
        roles = {}
        for instance in controller.instances if controller else []:
            answer = instance.role() if instance.alive() else None
            roles[instance.name] = ({"role": answer["role"].upper(), "generation": answer["generation"]}
                                    if answer else None)
        state["controllers"] = roles
        services = testbed.services
        if services is None:
            return state
        state["daemons"] = {}
        for daemon in self.processes:
            state["daemons"].setdefault(daemon.host, {})[daemon.name] = services.running(daemon)
        state["databases"] = {daemon.host: (daemon.status(testbed.net[daemon.host]) if services.running(daemon)
                                            else "not running")
                              for daemon in services.daemons if daemon.name == "mariadb"}
        return state


def firing(records: list[dict]) -> list[dict]:
    """The alerts whose latest notification says firing: [{alertname, instance, since}]."""
    latest: dict[tuple[str, str], dict] = {}
    for record in records:
        latest[(record["alertname"], record["instance"])] = record
    return [{"alertname": r["alertname"], "instance": r["instance"], "since": r["t"]}
            for r in latest.values() if r["status"] == "firing"]
