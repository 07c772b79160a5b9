"""What `status` (CLI) and `--smoke` show: the hosts and their addresses, and health checks.

A health check is a row (component, target, ok, detail); `--smoke` exits 0 only if every row is ok.
A network's row is the pings of topo/reachability.py (every host attached, every switch pair
forwarding), about one per host: all pairs would grow with the square of the hosts.
"""

from __future__ import annotations

from dataclasses import dataclass

from hosts.client import https_request
from runtime import observe
from topo.reachability import network_probes, probe_pairs
from runtime.text import format_table


@dataclass(frozen=True)
class Check:
    component: str
    target: str
    ok: bool
    detail: str = ""


def hosts_table(testbed) -> str:
    plan = testbed.plan
    rows = []
    for name, host in plan.topology.hosts.items():
        role = host.role + (" (backup)" if host.backup else "")
        for intf in plan.host_interfaces(name):
            rows.append([name, role, intf.name, intf.cidr, intf.mac, f"{intf.switch}:{intf.switch_port}"])
            name, role = "", ""
    vip = plan.topology.vip
    return (format_table(["host", "role", "interface", "address", "mac", "switch:port"], rows)
            + f"\nVIP {vip.address} on network {vip.network}")


def health_checks(testbed) -> list[Check]:
    checks = []
    controller = testbed.controller
    for instance in controller.instances if controller else []:
        pid = instance.process.pid if instance.process else "-"
        where = f"{instance.name} pid {pid}, {instance.host}:{instance.port}"
        answer = instance.role()
        if answer is None:
            detail = "not running" if not instance.alive() else "running, not answering"
        else:
            masters = sum(1 for r in answer["switches"].values() if r == "master")
            detail = (f"{answer['role'].upper()} (generation {answer['generation']}), "
                      f"MASTER of {masters}/{len(answer['switches'])} switches")
        checks.append(Check("controller", where, answer is not None and instance.listening(), detail))
    errors = controller.logged_errors() if controller else []
    checks.append(Check("controller", "log", not errors, errors[0][:80] if errors else "no errors logged"))
    ports = {(i.switch, i.switch_port): i.host for i in testbed.plan.interfaces}
    for switch, connected in testbed.switch_connections().items():
        flows = observe.flow_count(switch, testbed.net[switch])
        guards = "edge guards off"
        if testbed.topology.controller.edge_guards:
            drops = observe.guard_drops(switch, testbed.net[switch])
            stopped = ", ".join(f"{ports.get((switch, p), p)} {n}" for p, n in sorted(drops.items()) if n)
            guards = f"edge guards dropped {sum(drops.values())} packets" + (f" ({stopped})" if stopped else "")
        checks.append(Check("switch", switch, connected and bool(flows),
                            f"{'connected' if connected else 'NOT connected'}, {flows} flows, {guards}"))
    failures = testbed.ping_pairs(probe_pairs(testbed.plan), deadline=2.0)
    for network, spec in testbed.topology.networks.items():
        members = testbed.plan.members(network)
        probes = network_probes(members)
        bad = [(src, dst) for src, dst, ip in failures if ip in spec.subnet]
        detail = (f"{len(members)} hosts reachable ({len(probes)} pings: a ring over every host, "
                  f"every switch pair)") if not bad else \
            f"{len(bad)} of {len(probes)} pings unanswered, e.g. {bad[0][0]} -> {bad[0][1]}"
        checks.append(Check("network", network, not bad, detail))
    return checks


def service_checks(testbed) -> list[Check]:
    """One row per daemon per host (host, daemon, state, detail), then the end-to-end request."""
    manager, checks = testbed.services, []
    if manager is None:
        return checks
    for daemon in sorted(manager.daemons, key=lambda d: list(testbed.topology.hosts).index(d.host)):
        node = testbed.net[daemon.host]
        alive = daemon.command() is None or manager.running(daemon)
        try:
            ready = alive and daemon.is_ready(node)
            detail = daemon.status(node) if alive else "not running"
        except Exception as exc:  # a status probe that fails is a finding, not a crash
            ready, detail = False, f"status failed: {exc}"
        checks.append(Check(daemon.host, daemon.name, ready, detail))
    site = testbed.site
    if site.lbs:
        holders = observe.vip_holders(testbed)
        checks.append(Check("vip", site.vip, len(holders) == 1,
                            f"held by {', '.join(holders)}" if holders else "held by no load balancer"))
    for client in site.clients:
        response = https_request(testbed.net[client], site, "/")
        detail = (f"HTTP {response.status} from {response.served_by} in {response.seconds * 1000:.0f} ms"
                  if response.ok else f"failed: HTTP {response.status} {response.error[:60]}")
        checks.append(Check(client, f"https://{site.services.server_name} via VIP", response.ok, detail))
    return checks


def checks_table(checks: list[Check]) -> str:
    return format_table(["component", "target", "state", "detail"],
                        [[c.component, c.target, "OK" if c.ok else "FAIL", c.detail] for c in checks])
