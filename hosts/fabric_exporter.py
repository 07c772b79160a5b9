"""The fabric exporter on every monitor host: the controllers' roles and the switches' flows and
edge-guard drops, as metrics every Prometheus replica scrapes (hosts/fabricexporter/exporter.py).

    monitor, monitor2 ── exporter ── <service address>:<ports.fabric_exporter>/metrics ◀── Prometheus
                            │ UNIX sockets on the shared filesystem (the management plane):
                            ├─ <run>/s/controller.sock, <run>/s/controller2.sock   {"op": "role"}
                            └─ OVS: ovs-ofctl dump-flows s1 ... s5

In a split placement (topo/placement.py) an exporter asks only the switches of its own machine:
the OVS sockets are that machine's. Prometheus takes the `max` over exporters, so every switch is
seen while its machine has a live monitor; a machine without one has its switches unobserved.

One exporter per monitor host, so that losing a monitor loses no view of the fabric. Each
answers a scrape from what it asked at most MIN_INTERVAL_S ago: two replicas scraping two
exporters every second would otherwise run ovs-ofctl for every switch four times a second.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hosts.app import REPO_ROOT
from hosts.daemon import Daemon
from hosts.prometheus import http_get
from runtime.controller import instance_names

MIN_INTERVAL_S = 2.0


class FabricExporter(Daemon):
    name = "fabric_exporter"
    binary = sys.executable
    package = "python3"
    stage = 2

    @property
    def address(self) -> str:
        return f"{self.site.backend_ip(self.host)}:{self.site.services.ports.fabric_exporter}"

    @property
    def config_path(self) -> Path:
        return self.conf_path("fabric-exporter.json")

    def switches_seen(self) -> list[str]:
        """The switches whose OVS this exporter can ask: those on its host's machine."""
        layout = self.site.topology.layout
        here = layout.machine_of(self.host)
        return [s for s in self.site.topology.switches if layout.machine_of(s) == here]

    def files(self) -> dict[Path, str]:
        site = self.site
        controllers = {name: str(site.run_path / "s" / f"{name}.sock")
                       for name in instance_names(site.topology.controller.instances)}
        config = {"address": site.backend_ip(self.host), "port": site.services.ports.fabric_exporter,
                  "controllers": controllers, "switches": self.switches_seen(),
                  "min_interval_s": MIN_INTERVAL_S}
        return {self.config_path: json.dumps(config, indent=2) + "\n"}

    def command(self) -> list[str]:
        # env execs the interpreter (same pid) with the repository importable.
        return ["env", f"PYTHONPATH={REPO_ROOT}", sys.executable, "-m", "hosts.fabricexporter.exporter",
                str(self.config_path)]

    def is_ready(self, node) -> bool:
        code, _ = http_get(node, f"http://{self.address}/metrics", timeout=3.0)
        return code == 200

    def status(self, node) -> str:
        code, body = http_get(node, f"http://{self.address}/metrics", timeout=3.0)
        if code != 200:
            return f"{self.address} not answering ({code or 'no reply'})"
        masters = [line.split('"')[1] for line in body.splitlines()
                   if line.startswith("hatestbed_controller_master{") and line.endswith(" 1.0")]
        switches = sum(1 for line in body.splitlines()
                       if line.startswith("hatestbed_switch_up{") and line.endswith(" 1.0"))
        return f"{self.address} answering: MASTER {', '.join(masters) or 'none'}, {switches} switches up"
