"""What the page draws and offers, from the model alone: the topology picture (the same graph as
the report's, spof/picture.py), the fault addresses each component offers when clicked (the
catalogue's), and the static SPOF analysis for the overlay.

    topology_graph(topology, plan) ──▶ nodes (x, y by tier) + edges (each a link: address)
    catalogue(topology)            ──▶ a menu per node and per edge; the rest (controller, ...) apart
    analyze(topology)              ──▶ SPOF overlay: colour per component, the cut sets to pick from
"""

from __future__ import annotations

from experiments.faults import catalogue
from experiments.faults.attacks import ATTACKS
from spof.picture import CLIENT_ACCESS_COLOUR, layered_positions, severity, spofs_by_component, topology_graph

# Pixels per unit of the picture's layout (a tier is one unit down, hosts one unit apart or more).
X_SCALE, Y_SCALE = 110, 120


def page_model(testbed) -> dict:
    topology, plan = testbed.topology, testbed.plan
    graph = topology_graph(topology, plan)
    pos = layered_positions(graph)
    menus = fault_menus(topology, set(graph), {d["address"] for _a, _b, d in graph.edges(data=True)})
    layout = topology.layout
    nodes = []
    for name, data in graph.nodes(data=True):
        spec = topology.hosts.get(name)
        x, y = pos[name]
        # A split placement: each node says its machine under its name (machine:<name> highlights them all).
        machine = layout.machine_of(name) if layout.split else None
        nodes.append({"id": name, "kind": "host" if spec else "switch", "role": spec.role if spec else "switch",
                      "backup": bool(spec and spec.backup), "colour": data["colour"], "machine": machine,
                      "label": data["label"] + (f"\n[{machine}]" if machine else ""),
                      "x": round(x * X_SCALE), "y": round(-y * Y_SCALE), "faults": menus.pop(name, [])})
    edges = []
    for a, b, data in graph.edges(data=True):
        edges.append({"id": data["address"], "source": a, "target": b, "faults": menus.pop(data["address"], [])})
    site = testbed.site
    return {
        "topology": topology.name, "vip": str(topology.vip.address), "nodes": nodes, "edges": edges,
        "other_faults": [fault for entries in menus.values() for fault in entries],
        "lbs": topology.hosts_with_role("lb"),
        "servers": topology.hosts_with_role("server"),
        "backups": [h for h in topology.hosts_with_role("server") if topology.hosts[h].backup],
        "db_mode": site.db_mode if site else None,
        "db_nodes": site.db_nodes if site else [],
        "controllers": [i.name for i in testbed.controller.instances] if testbed.controller else [],
    }


def fault_menus(topology, nodes: set[str], links: set[str]) -> dict[str, list[dict]]:
    """Component (node name or link address) → the catalogue entries it offers; entries that
    belong to no drawn component (the controller, partitions of several hosts) under "other"."""
    menus: dict[str, list[dict]] = {}
    for entry in catalogue(topology):
        item = {"address": entry.address, "description": entry.description}
        menus.setdefault(owner(entry.address, topology, nodes, links), []).append(item)
    return menus


def owner(address: str, topology, nodes: set[str], links: set[str]) -> str:
    """The drawn component a fault address belongs to: a host or switch (its crash, its daemons,
    the attacks it sends), a link, or "other"."""
    kind, _, rest = address.partition(":")
    if kind in ("node", "processes") and rest in nodes:
        return rest
    if kind == "daemon" and rest.partition("@")[2] in nodes:
        return rest.partition("@")[2]
    if kind == "link" and address in links:
        return address
    if kind == "attack" and rest in ATTACKS:
        return ATTACKS[rest].host(topology)
    return "other"


def spof_overlay(analysis) -> dict:
    """The overlay's data: colour of every component that is a SPOF (red: web, read or write;
    orange: monitoring or recovery only) or a client's only access (blue), and the cut sets."""
    styles = {c.component: {"colour": CLIENT_ACCESS_COLOUR, "why": f"only access of {', '.join(c.clients)}"}
              for c in analysis.client_access}
    for component, services in spofs_by_component(analysis).items():
        styles[component] = {"colour": severity(services, ""), "why": "SPOF for " + ", ".join(services)}
    return {"components": styles,
            "cut_sets": [{"service": c.service, "components": list(c.components), "reason": c.reason}
                         for c in analysis.cut_sets],
            "seconds": round(analysis.seconds, 2)}
