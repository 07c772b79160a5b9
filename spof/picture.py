"""The topology drawn from the YAML, tiers top to bottom, predicted SPOFs in red (PNG and SVG).

    clients               client1          client2
    internet switches        s1 ─────────── s2
    balancers            lb1 (VIP)          lb2
    service switches         s3 ─────────── s4
                               └──── s5 ────┘
    servers, monitors    server1 monitor2  server2 monitor   server3 (under s5)

Roles are written under the hosts (active, passive backup); the two firewall zones, the internet
side and the service side, are shaded bands with the balancers between them. Also the run's
topology picture in every report.html (experiments/html_report.py).
Hosts and switches that are SPOFs get a ring, links that are SPOFs a thick line: red when a
client-facing service (web, read, write) depends on them alone, orange when only monitoring or
recovery does. A client's own only way in (its access switch or link: "client access" in the
analysis) is blue, its links dashed: not the site's SPOF, not hidden either. The SPOFs that are not
drawn (daemons, the controller) are listed under it. Hosts sit under the switches they are
attached to (the mean of their switches' positions).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from spof.analysis import Analysis

ROLE_COLOURS = {"client": "#9ecae1", "lb": "#fdae6b", "server": "#a1d99b", "monitor": "#dadaeb", "switch": "#d9d9d9"}
ROLE_LAYER = {"client": 0, "lb": 2, "server": 4, "monitor": 4}
ROLE_NOTE = {("server", False): "\nactive", ("server", True): "\npassive"}
# Firewall zones: (first layer, last layer, colour, label); every host runs its own iptables.
ZONES = ((0, 1, "#fde0dd", "internet side (untrusted): clients, front switches"),
         (3, 4, "#e5f5e0", "service side: back switches, servers, monitor"))


def draw(analysis: Analysis, topology, plan, directory: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spof = spofs_by_component(analysis)
    graph = topology_graph(topology, plan)
    pos = layered_positions(graph)

    fig, ax = plt.subplots(figsize=(11, 7))
    left = min(x for x, _ in pos.values()) - 0.45
    for first, last, colour, label in ZONES:
        ax.axhspan(-last - 0.45, -first + 0.45, color=colour, zorder=0)
        ax.text(left, -first + 0.4, label, fontsize=7, color="#555555", va="top")
    styles = component_styles(analysis)
    all_edges = list(graph.edges(data=True))
    # A link that passes over a switch of its own row (s3-s5 behind s4) is drawn as an arc.
    hidden = [e for e in all_edges if passes_over(pos, e[0], e[1])]
    for edges, arc in (([e for e in all_edges if e not in hidden], None), (hidden, "arc3,rad=-0.18")):
        if not edges:
            continue
        nx.draw_networkx_edges(graph, pos, edgelist=[(a, b) for a, b, _ in edges], ax=ax,
                               edge_color=[styles.get(d["address"], ("#777777", ""))[0] for _, _, d in edges],
                               width=[3.5 if d["address"] in styles else 1.2 for _, _, d in edges],
                               style=[styles.get(d["address"], ("", "solid"))[1] for _, _, d in edges],
                               **({"arrows": True, "arrowstyle": "-", "connectionstyle": arc, "node_size": 1300}
                                  if arc else {}))
    nodes = list(graph)
    nx.draw_networkx_nodes(graph, pos, nodelist=nodes, ax=ax, node_size=1300,
                           node_color=[graph.nodes[n]["colour"] for n in nodes],
                           edgecolors=[styles.get(f"node:{n}", ("#333333", ""))[0] for n in nodes],
                           linewidths=[4 if f"node:{n}" in styles else 1 for n in nodes],
                           node_shape="o")
    nx.draw_networkx_labels(graph, pos, labels={n: graph.nodes[n]["label"] for n in nodes}, ax=ax, font_size=8)
    holder = analysis.notes[0].split(":")[1].split("(")[0].strip() if analysis.notes else ""
    for lb in topology.hosts_with_role("lb"):
        x, y = pos[lb]
        ax.annotate(f"VIP {topology.vip.address}" if lb == holder else "VRRP backup", (x, y), (x, y + 0.22),
                    ha="center", fontsize=7, color="#8c2d04")
    others = [f"{c} ({', '.join(s)})" for c, s in spof.items()
              if not c.startswith(("node:", "link:"))]
    ax.set_title(f"{analysis.topology}: predicted single points of failure (red: web/read/write, "
                 "orange: monitoring/recovery only; blue dashed: a client's only access)", fontsize=10)
    ax.text(0.99, 0.01, "every host: iptables firewall, default deny", transform=ax.transAxes,
            fontsize=7, ha="right", va="bottom", color="#555555")
    ax.text(0.01, 0.01, "also SPOF: " + ("; ".join(others) if others else "nothing else"), transform=ax.transAxes,
            fontsize=7, va="bottom", wrap=True)
    ax.axis("off")
    fig.tight_layout()
    ax.margins(0.08)
    paths = []
    for suffix in ("png", "svg"):
        path = Path(directory) / f"topology.{suffix}"
        fig.savefig(path, dpi=110)
        paths.append(path)
    plt.close(fig)
    return paths


def topology_graph(topology, plan) -> nx.Graph:
    """The picture's graph: hosts and switches with their tier (layer), colour and label; every
    link an edge with its fault address. The dashboard draws the same graph (hatestbed/dashboard)."""
    graph = nx.Graph()
    vip_net = topology.vip.network
    for host, spec in topology.hosts.items():
        graph.add_node(host, layer=ROLE_LAYER[spec.role], colour=ROLE_COLOURS[spec.role],
                       label=host + ROLE_NOTE.get((spec.role, bool(spec.backup)), ""))
    for switch in topology.switches:
        nets = {i.network for i in plan.interfaces if i.switch == switch}
        layer = 1 if nets == {vip_net} else 3 if vip_net not in nets else 2
        graph.add_node(switch, layer=layer, colour=ROLE_COLOURS["switch"], label=switch)
    for link in plan.switch_links:
        graph.add_edge(link.a, link.b, address=f"link:{link.a}-{link.b}")
    for intf in plan.interfaces:
        graph.add_edge(intf.host, intf.switch, address=f"link:{intf.host}-{intf.switch}")
    return graph


CLIENT_ACCESS_COLOUR = "#3182bd"


def component_styles(analysis: Analysis) -> dict[str, tuple[str, str]]:
    """Drawn component address → (colour, line style): the site's SPOFs red or orange and solid,
    a client's only access blue and dashed (a component that is both is drawn as the SPOF)."""
    styles = {c.component: (CLIENT_ACCESS_COLOUR, "dashed") for c in analysis.client_access}
    styles.update({c: (severity(services, ""), "solid") for c, services in spofs_by_component(analysis).items()})
    return styles


def spofs_by_component(analysis: Analysis) -> dict[str, list[str]]:
    """SPOF component address → the services it takes down."""
    spof: dict[str, list[str]] = {}
    for j in analysis.spofs():
        spof.setdefault(j.component, []).append(j.service)
    return spof


def passes_over(pos: dict[str, tuple[float, float]], a: str, b: str) -> bool:
    """Does the straight line a-b run through another node of the same row?"""
    (xa, ya), (xb, yb) = pos[a], pos[b]
    return ya == yb and any(y == ya and min(xa, xb) < x < max(xa, xb)
                            for n, (x, y) in pos.items() if n not in (a, b))


def severity(services: list[str] | None, default: str) -> str:
    if not services:
        return default
    return "#d62728" if set(services) & {"web", "read", "write"} else "#ff9f1c"


def layered_positions(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """Layers top to bottom; switches evenly spread in their layer, every host under the mean of
    its switches, hosts of one layer pushed apart to at least one unit."""
    pos: dict[str, tuple[float, float]] = {}
    switches = sorted((n for n in graph if graph.nodes[n]["colour"] == ROLE_COLOURS["switch"]),
                      key=lambda n: (graph.nodes[n]["layer"], n))
    for layer in sorted({graph.nodes[n]["layer"] for n in switches}):
        row = [n for n in switches if graph.nodes[n]["layer"] == layer]
        for i, n in enumerate(row):
            pos[n] = (2.0 * (i - (len(row) - 1) / 2), -layer)
    hosts = [n for n in graph if n not in pos]
    for layer in sorted({graph.nodes[n]["layer"] for n in hosts}):
        row = sorted((n for n in hosts if graph.nodes[n]["layer"] == layer),
                     key=lambda n: (sum(pos[s][0] for s in graph[n] if s in pos) / max(1, len(graph[n])), n))
        xs = [sum(pos[s][0] for s in graph[n] if s in pos) / max(1, len(graph[n])) for n in row]
        for i in range(1, len(xs)):
            xs[i] = max(xs[i], xs[i - 1] + 1.0)
        # Balancers join two switch layers: set them aside so the link between those switches shows.
        aside = 0.7 if any(-pos[s][1] < layer for n in row for s in graph[n] if s in pos) and \
            any(-pos[s][1] > layer for n in row for s in graph[n] if s in pos) else 0.0
        for n, x in zip(row, xs):
            pos[n] = (x + aside, -layer)
    return pos
