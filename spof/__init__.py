"""SPOF analysis: predict every single point of failure from the topology and its rendered
configuration, without a network.

    facts.py       what the redundancy mechanisms check, parsed from the rendered configuration
    components.py  every component, named by its fault address
    model.py       the design as a structure function: failed components → which services work
    analysis.py    component × service judgements, size-2 cut sets, articulation points and bridges
    output.py      terminal table, spof.json (schema-checked), spof.md;  picture.py: PNG + SVG

    write_report(topology, folder) → analysis       what `topo/run.py --spof` does, into a folder
    draw_topology(topology, folder) → [png, svg]    the picture alone (every run's report.html)
"""

from __future__ import annotations

from pathlib import Path


def write_report(topology, folder: Path, pairs: bool = True):
    """Analyze `topology` and write spof.json, spof.md and the pictures into `folder`."""
    from spof import output, picture
    from spof.analysis import analyze
    from topo.plan import plan_network

    analysis = analyze(topology, pairs=pairs)
    pictures = picture.draw(analysis, topology, plan_network(topology), folder)
    output.write_json(folder, analysis)
    output.write_markdown(folder, analysis, pictures)
    return analysis


def draw_topology(topology, folder: Path) -> list[Path]:
    """topology.png and topology.svg in `folder`: the design with its predicted single SPOFs."""
    from spof import picture
    from spof.analysis import analyze
    from topo.plan import plan_network

    return picture.draw(analyze(topology, pairs=False), topology, plan_network(topology), folder)
