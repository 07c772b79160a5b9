"""The fabric's state as Prometheus metrics: the controllers' roles and the switches' flows and
edge-guard drops, served from a monitor host so that every Prometheus replica can scrape them.

    monitor (its own network namespace)
      exporter.py ── GET /metrics on <service address>:<fabric_exporter port> ◀── each Prometheus
        │  every scrape, at most once per --min-interval s (a cached answer in between):
        ├─ {"op": "role"} ──▶ <run>/s/controller.sock, <run>/s/controller2.sock (UNIX sockets)
        └─ ovs-ofctl dump-flows s1 ... ──▶ /var/run/openvswitch/s1.mgmt (UNIX sockets)

The controllers and the switches live in the root namespace, where nothing of the emulated
network reaches. All hosts share one filesystem with it, so the exporter reaches them through
their UNIX sockets, the machine's management plane, and the metrics travel to Prometheus over
the service network like every other exporter's: nothing crosses into the root namespace's
network. (A real site would put this on an out-of-band management network.)

Metrics (gauges; a source that does not answer is 0 in its `_up` and has no other series):
    hatestbed_controller_up{controller}                 its control socket answered
    hatestbed_controller_master{controller}             1 while it is the OpenFlow MASTER
    hatestbed_controller_switches{controller}           switches in service from it (programmed
                                                        as MASTER, or confirmed as standby)
    hatestbed_switch_up{switch}                         ovs-vswitchd answered for the bridge
    hatestbed_switch_flows{switch}                      flows installed (every table)
    hatestbed_edge_guard_dropped_packets{switch,port}   packets the edge guards dropped (a counter
                                                        in OVS; reset when the flow is reinstalled)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from controllers.guards import PRIO_GUARD_DROP, TABLE_GUARD

# The edge guards' per-host-port drop entry, as OpenFlow 1.3's dump-flows prints it.
_GUARD_DROP = re.compile(rf"\btable={TABLE_GUARD}, n_packets=(\d+),.*\bpriority={PRIO_GUARD_DROP},in_port=(\d+) "
                         r"actions=drop\s*$")
_FLOW = re.compile(r"^\s*cookie=")


def parse_dump_flows(dump: str) -> tuple[int, dict[int, int]]:
    """(flows, {port: packets the edge guards dropped}) from `ovs-ofctl --no-names dump-flows`."""
    lines = dump.splitlines()
    drops = {int(m.group(2)): int(m.group(1)) for m in map(_GUARD_DROP.search, lines) if m}
    return sum(1 for line in lines if _FLOW.match(line)), drops


def controller_state(socket_path: str, timeout: float = 0.5) -> dict | None:
    """The controller's own answer to {"op": "role"}, or None when nothing answers."""
    from controllers.control import ControlError, request

    try:
        answer = request(socket_path, {"op": "role"}, timeout=timeout)
    except ControlError:
        return None
    return answer if answer.get("ok") else None


def switch_state(switch: str, timeout: float = 2.0) -> tuple[int, dict[int, int]] | None:
    """(flows, guard drops) of a bridge, or None when ovs-vswitchd does not answer for it."""
    try:
        result = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", switch],
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return parse_dump_flows(result.stdout) if result.returncode == 0 else None


def families(controllers: dict[str, dict | None], switches: dict[str, tuple | None]) -> list[GaugeMetricFamily]:
    """The metric families for one observation (pure: unit-tested on plain values)."""
    up = GaugeMetricFamily("hatestbed_controller_up", "The controller's control socket answered", labels=["controller"])
    master = GaugeMetricFamily("hatestbed_controller_master", "1 while the controller is OpenFlow MASTER",
                               labels=["controller"])
    served = GaugeMetricFamily("hatestbed_controller_switches", "Switches in service from the controller",
                               labels=["controller"])
    for name, state in controllers.items():
        up.add_metric([name], 1 if state else 0)
        if state:
            master.add_metric([name], 1 if str(state.get("role", "")).upper() == "MASTER" else 0)
            served.add_metric([name], len(state.get("switches") or {}))
    switch_up = GaugeMetricFamily("hatestbed_switch_up", "ovs-vswitchd answered for the bridge", labels=["switch"])
    flows = GaugeMetricFamily("hatestbed_switch_flows", "Flows installed on the switch", labels=["switch"])
    drops = GaugeMetricFamily("hatestbed_edge_guard_dropped_packets", "Packets the edge guards dropped on a host port",
                              labels=["switch", "port"])
    for name, state in switches.items():
        switch_up.add_metric([name], 1 if state else 0)
        if state:
            count, dropped = state
            flows.add_metric([name], count)
            for port, packets in sorted(dropped.items()):
                drops.add_metric([name, str(port)], packets)
    return [up, master, served, switch_up, flows, drops]


class FabricCollector(Collector):
    """Asks the controllers and switches on a scrape, at most once per `min_interval` seconds."""

    def __init__(self, controllers: dict[str, str], switches: list[str], min_interval: float):
        self.controllers, self.switches, self.min_interval = controllers, switches, min_interval
        self._lock = threading.Lock()
        self._at, self._cached = 0.0, []

    def collect(self):
        with self._lock:
            if time.monotonic() - self._at >= self.min_interval:
                self._cached = families({n: controller_state(p) for n, p in self.controllers.items()},
                                        {s: switch_state(s) for s in self.switches})
                self._at = time.monotonic()
            yield from self._cached


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="JSON: listen address and port, controllers' sockets, switches")
    config = json.loads(Path(parser.parse_args(argv).config).read_text())
    REGISTRY.register(FabricCollector(config["controllers"], config["switches"], config["min_interval_s"]))
    start_http_server(config["port"], addr=config["address"])
    print(f"fabric exporter on {config['address']}:{config['port']}", flush=True)
    threading.Event().wait()  # serve until stopped (SIGTERM ends the process)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
