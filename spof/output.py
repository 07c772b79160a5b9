"""The static analysis written out: a terminal table, spof.json (schema-checked), spof.md.

    results/<UTC time>-spof/
      spof.json    {"judgements": [{component, kind, service, predicted, reason, mitigation}, ...],
                    "cut_sets": [{service, components: [a, b], reason}], "graph", "facts", ...}
      spof.md      the SPOF table, the component × service matrix, the size-2 cut sets
      topology.png / topology.svg   the fabric with the predicted SPOFs in red (spof/picture.py)
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import jsonschema

from spof.analysis import Analysis
from runtime.text import format_table

SCHEMA = {
    "type": "object",
    "required": ["topology", "services", "judgements", "cut_sets", "graph", "facts"],
    "properties": {
        "services": {"type": "array", "items": {"enum": ["web", "read", "write", "monitoring", "recovery"]}},
        "judgements": {"type": "array", "items": {
            "type": "object",
            "required": ["component", "kind", "service", "predicted", "reason", "mitigation"],
            "additionalProperties": False,
            "properties": {
                "component": {"type": "string", "pattern": r"^(node:\S+|daemon:\S+@\S+|link:\S+-\S+|machine:\S+|controller|vip)$"},
                "kind": {"enum": ["host", "switch", "daemon", "isl", "host_link", "controller", "vip", "machine"]},
                "service": {"type": "string"}, "predicted": {"type": "boolean"},
                "reason": {"type": "string"}, "mitigation": {"type": "string"}}}},
        "client_access": {"type": "array", "items": {
            "type": "object", "required": ["component", "clients", "reason"], "additionalProperties": False,
            "properties": {"component": {"type": "string", "pattern": r"^(node:\S+|link:\S+-\S+)$"},
                           "clients": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                           "reason": {"type": "string"}}}},
        "cut_sets": {"type": "array", "items": {
            "type": "object", "required": ["service", "components", "reason"],
            "properties": {"components": {"type": "array", "minItems": 2, "maxItems": 2}}}},
    },
}


def write_json(directory: Path, analysis: Analysis) -> Path:
    data = analysis.as_json()
    jsonschema.validate(data, SCHEMA)
    path = Path(directory) / "spof.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def by_component(analysis: Analysis) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for j in analysis.judgements:
        row = rows.setdefault(j.component, {"kind": j.kind, "spof_for": [], "reasons": {}, "covers": {}})
        if j.predicted:
            row["spof_for"].append(j.service)
            row["reasons"][j.service] = j.reason
        else:
            row["covers"][j.service] = j.mitigation
    return rows


def terminal_table(analysis: Analysis, width: int = 110) -> str:
    rows = []
    for component, row in by_component(analysis).items():
        if row["spof_for"]:
            reason = row["reasons"][row["spof_for"][0]]
            rows.append([component, row["kind"], ",".join(row["spof_for"]),
                         reason if len(reason) <= width else reason[:width - 1] + "…"])
    cuts = defaultdict(int)
    for cut in analysis.cut_sets:
        cuts[cut.service] += 1
    lines = [f"SPOF analysis of {analysis.topology}: {len(rows)} components are single points of failure "
             f"({analysis.seconds:.2f} s, {analysis.pairs_tried} pairs tried)", ""]
    lines.append(format_table(["component", "kind", "SPOF for", "why"], rows) if rows else "no SPOF predicted")
    if analysis.client_access:
        lines += ["", "client access (a client's own only switch or link: down for that client alone, not a SPOF "
                      "of the site)", format_table(["component", "clients", "why"],
                                                  [[c.component, ", ".join(c.clients), c.reason]
                                                   for c in analysis.client_access])]
    lines += ["", "size-2 cut sets (pairs that take a service down though neither alone does): "
              + (", ".join(f"{service} {n}" for service, n in cuts.items()) or "none")]
    return "\n".join(lines)


def write_markdown(directory: Path, analysis: Analysis, pictures: list[Path] = ()) -> Path:
    rows = by_component(analysis)
    out = [f"# SPOF analysis: {analysis.topology}", "",
           f"Predicted from the model alone (`topo/run.py --spof`) in {analysis.seconds:.2f} s. "
           "A component is a SPOF for a service when that service is down with it failed and nothing else.",
           ""]
    out += [f"- {note}" for note in analysis.notes] + [""]
    for picture in pictures:
        if picture.suffix == ".png":
            out += [f"![topology]({picture.name})", ""]
    out += ["## Single points of failure", "", "| component | kind | service | why |", "|---|---|---|---|"]
    for j in analysis.spofs():
        out.append(f"| `{j.component}` | {j.kind} | {j.service} | {_cell(j.reason)} |")
    if not analysis.spofs():
        out.append("| none | | | |")
    if analysis.client_access:
        out += ["", "## Client access", "",
                "A client's own only switch or link: the services are down for that client alone, so it is not "
                "a SPOF of the site, but it is one for the client.", "",
                "| component | clients | why |", "|---|---|---|"]
        out += [f"| `{c.component}` | {', '.join(c.clients)} | {_cell(c.reason)} |" for c in analysis.client_access]
    out += ["", "## Every component × service", "",
            "| component | " + " | ".join(analysis.services) + " |",
            "|---|" + "---|" * len(analysis.services)]
    for component, row in rows.items():
        cells = ["**SPOF**" if s in row["spof_for"] else _cell(_short(row["covers"].get(s, ""))) for s in analysis.services]
        out.append(f"| `{component}` | " + " | ".join(cells) + " |")
    out += ["", "## Size-2 cut sets", "",
            "Pairs whose joint failure takes a service down although neither alone does.", "",
            "| service | components | why |", "|---|---|---|"]
    for cut in analysis.cut_sets:
        out.append(f"| {cut.service} | `{cut.components[0]}` + `{cut.components[1]}` | {_cell(cut.reason)} |")
    out += ["", "## What the redundancy mechanisms check (from the rendered configuration)", "",
            "```json", json.dumps(analysis.facts, indent=2), "```", "",
            "## Fabric", "", f"- articulation points: {', '.join(analysis.graph['articulation_points']) or 'none'}",
            f"- bridges: {', '.join(analysis.graph['bridges']) or 'none'}", ""]
    path = Path(directory) / "spof.md"
    path.write_text("\n".join(out))
    return path


def _short(mitigation: str) -> str:
    if mitigation.startswith("not on this"):
        return "·"
    return mitigation.split(":")[0] if mitigation.startswith("VRRP") else mitigation


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
