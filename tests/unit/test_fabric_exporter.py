"""The fabric exporter: the controllers' and switches' state as metrics, from the monitors (no root)."""

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from hosts.fabric_exporter import FabricExporter
from hosts.fabricexporter.exporter import FabricCollector, families, parse_dump_flows
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import load_topology
from topo.plan import plan_network

DUMP = """OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x0, duration=9.1s, table=0, n_packets=12, n_bytes=720, priority=300,in_port=4,dl_src=02:00:00:02:00:0c actions=goto_table:1
 cookie=0x0, duration=9.1s, table=0, n_packets=3, n_bytes=180, priority=100,in_port=4 actions=drop
 cookie=0x0, duration=9.1s, table=0, n_packets=0, n_bytes=0, priority=100,in_port=5 actions=drop
 cookie=0x0, duration=9.1s, table=2, n_packets=1, n_bytes=60, priority=100,in_port=6 actions=drop
 cookie=0x0, duration=9.1s, table=2, n_packets=40, n_bytes=2400, priority=10,dl_dst=02:00:00:02:00:0c actions=output:4
"""


def render(controllers, switches) -> str:
    class Fixed(Collector):
        def collect(self):
            yield from families(controllers, switches)

    registry = CollectorRegistry()
    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_flows_and_guard_drops_come_from_one_dump_of_every_table():
    flows, drops = parse_dump_flows(DUMP)
    assert flows == 5
    assert drops == {4: 3, 5: 0}  # table 2's drop is forwarding, not a guard


def test_roles_connected_switches_flows_and_drops_as_metrics():
    text = render({"controller": {"ok": True, "role": "MASTER", "switches": {"s1": "MASTER", "s2": "MASTER"}},
                   "controller2": None},
                  {"s1": (5, {4: 3}), "s2": None})
    assert 'hatestbed_controller_up{controller="controller"} 1.0' in text
    assert 'hatestbed_controller_up{controller="controller2"} 0.0' in text
    assert 'hatestbed_controller_master{controller="controller"} 1.0' in text
    assert 'hatestbed_controller_master{controller="controller2"}' not in text  # no answer: no role
    assert 'hatestbed_controller_switches{controller="controller"} 2.0' in text
    assert 'hatestbed_switch_up{switch="s2"} 0.0' in text and 'hatestbed_switch_flows{switch="s1"} 5.0' in text
    assert 'hatestbed_edge_guard_dropped_packets{port="4",switch="s1"} 3.0' in text


def test_a_scrape_asks_the_fabric_at_most_once_per_interval(monkeypatch):
    import hosts.fabricexporter.exporter as exporter

    asked = []
    monkeypatch.setattr(exporter, "controller_state", lambda path: asked.append(path) or None)
    monkeypatch.setattr(exporter, "switch_state", lambda switch: None)
    collector = FabricCollector({"controller": "/x.sock"}, ["s1"], min_interval=60)
    first, second = list(collector.collect()), list(collector.collect())
    assert asked == ["/x.sock"] and [f.name for f in first] == [f.name for f in second]


def test_every_monitor_runs_one_on_its_service_address_with_every_controller_and_switch():
    topology = load_topology()
    site = Site(plan_network(topology), Path("/tmp/run"))
    exporters = [d for d in daemons_for(site) if d.name == "fabric_exporter"]
    assert [d.host for d in exporters] == ["monitor", "monitor2"]
    daemon = FabricExporter(site, "monitor2")
    config = json.loads(daemon.files()[daemon.config_path])
    assert config["address"] == site.backend_ip("monitor2") and config["port"] == 9105
    assert config["controllers"] == {"controller": "/tmp/run/s/controller.sock",
                                     "controller2": "/tmp/run/s/controller2.sock"}
    assert config["switches"] == ["s1", "s2", "s3", "s4", "s5"]
    assert daemon.command()[-3:] == ["-m", "hosts.fabricexporter.exporter", str(daemon.config_path)]
