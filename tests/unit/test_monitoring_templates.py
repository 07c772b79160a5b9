"""Monitoring rendered from the default model: every exporter scraped, alert rules present (no root)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hosts.mysqld_exporter import MysqldExporter
from hosts.node_exporter import NodeExporter
from hosts.prometheus import Prometheus, http_get
from hosts.site import DB_USERS, Site
from tests.http_stub import serving
from topo.model import load_topology
from topo.plan import plan_network


@pytest.fixture(scope="module")
def site():
    return Site(plan_network(load_topology()), Path("/tmp/x"))


@pytest.fixture(scope="module")
def prometheus_files(site):
    daemon = Prometheus(site, "monitor")
    files = daemon.files()
    return yaml.safe_load(files[daemon.config_path]), yaml.safe_load(files[daemon.rules_path])


def targets_of(config, job) -> dict[str, str]:
    """{instance label: address} of one scrape job."""
    [scrape] = [j for j in config["scrape_configs"] if j["job_name"] == job]
    return {group["labels"]["instance"]: address
            for group in scrape["static_configs"] for address in group["targets"]}


def test_every_exporter_of_every_host_is_scraped_by_host_name(site, prometheus_files):
    config, _ = prometheus_files
    backend = {host: site.backend_ip(host) for host in site.topology.hosts if site.topology.hosts[host].role != "client"}
    assert targets_of(config, "node") == {h: f"{backend[h]}:9100" for h in
                                          ["lb1", "lb2", "server1", "server2", "server3", "monitor", "monitor2"]}
    assert targets_of(config, "fabric") == {"monitor": "10.0.2.15:9105", "monitor2": "10.0.2.16:9105"}
    assert targets_of(config, "mysqld") == {h: f"{backend[h]}:9104" for h in ["server1", "server2", "server3"]}
    assert targets_of(config, "haproxy") == {"lb1": "10.0.2.10:8404", "lb2": "10.0.2.11:8404"}
    # Every replica scrapes every replica, itself included.
    assert targets_of(config, "prometheus") == {"monitor": "10.0.2.15:9090", "monitor2": "10.0.2.16:9090"}
    # The balancers are scraped on their back legs: nothing is exposed on the internet side.
    assert not any(address.startswith("10.0.1.") for job in ("node", "haproxy")
                   for address in targets_of(config, job).values())


def test_scrapes_are_frequent_and_the_rules_are_loaded(site, prometheus_files):
    config, _ = prometheus_files
    assert config["global"]["scrape_interval"] == "2s"  # two replicas share the budget
    assert config["global"]["evaluation_interval"] == "2s"
    assert config["rule_files"] == [str(site.conf("monitor", "prometheus-rules.yml"))]


def test_alert_rules_cover_instances_servers_and_the_vip(prometheus_files):
    _, rules = prometheus_files
    [group] = rules["groups"]
    alerts = {rule["alert"]: rule["expr"] for rule in group["rules"] if "alert" in rule}
    assert set(alerts) >= {"InstanceDown", "HAProxyServerDown", "HAProxyNoActiveServer", "MysqldDown",
                           "VipNotHeldByExactlyOne", "VrrpMasterChanged"}
    assert alerts["InstanceDown"] == "up == 0"
    assert 'haproxy_server_status{proxy="servers", state="DOWN"} == 1' in alerts["HAProxyServerDown"]
    records = {rule["record"]: rule["expr"] for rule in group["rules"] if "record" in rule}
    assert 'address="10.0.1.100"' in records["hatestbed:vip_held"]
    assert 'instance=~"lb1|lb2"' in records["hatestbed:vip_held"]
    assert "changes(hatestbed:vip_held[1m])" in alerts["VrrpMasterChanged"]


def test_prometheus_runs_on_the_monitor_with_its_own_tsdb(site):
    daemon = Prometheus(site, "monitor")
    argv = daemon.command()
    assert argv[0] == "prometheus"
    assert f"--storage.tsdb.path={site.data('monitor', 'prometheus')}" in argv
    assert "--web.listen-address=10.0.2.15:9090" in argv
    assert daemon.check_command() == ["promtool", "check", "config", str(site.conf("monitor", "prometheus.yml"))]
    assert Prometheus.stage == 6


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed")
def test_rendered_config_and_rules_pass_promtool(tmp_path):
    site = Site(plan_network(load_topology()), tmp_path)
    daemon = Prometheus(site, "monitor")
    for path, text in daemon.files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = subprocess.run(daemon.check_command(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_node_exporter_listens_on_the_back_end_address_with_chosen_collectors(site):
    argv = NodeExporter(site, "lb1").command()
    assert argv[0] == "prometheus-node-exporter"
    assert "--web.listen-address=10.0.2.10:9100" in argv  # lb1's back leg
    assert "--collector.disable-defaults" in argv
    assert "--collector.netdev.address-info" in argv  # who holds the VIP, for the VRRP rules
    assert "--web.listen-address=10.0.2.15:9100" in NodeExporter(site, "monitor").command()
    assert NodeExporter.stage == 2


def test_mysqld_exporter_logs_in_over_this_hosts_socket(site):
    daemon = MysqldExporter(site, "server2")
    text = daemon.files()[daemon.my_cnf]
    assert daemon.my_cnf == site.conf("server2", "mysqld_exporter.cnf")
    assert "[client]" in text and "user = exporter" in text
    assert f"password = {DB_USERS['exporter']}" in text
    assert f"socket = {site.sock('server2', 'mariadb')}" in text
    argv = daemon.command()
    assert f"--config.my-cnf={daemon.my_cnf}" in argv
    assert "--web.listen-address=10.0.2.13:9104" in argv
    assert MysqldExporter.stage == 2  # after MariaDB (stage 1) is ready


class _Node:
    """Stands in for a Mininet host: runs the command in this namespace."""
    name = "fake"

    @staticmethod
    def popen(args, **kwargs):
        return subprocess.Popen(args, **kwargs)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_http_get_returns_status_and_body():
    with serving({"/metrics": "mysql_up 1\n"}) as base:
        assert http_get(_Node, f"{base}/metrics") == (200, "mysql_up 1\n")
        assert http_get(_Node, f"{base}/other")[0] == 404
    assert http_get(_Node, f"{base}/metrics", timeout=1)[0] == 0  # nothing answers


@pytest.mark.parametrize("mode, alerts", [("galera", {"GaleraNodeNotReady", "GaleraClusterShrunk"}),
                                          ("semisync", {"SemisyncFellBackToAsync"}), ("async", set())])
def test_database_alerts_follow_the_mode(mode, alerts):
    from topo.model import DEFAULT_TOPOLOGY, parse_topology
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"mariadb": {"mode": mode}}
    daemon = Prometheus(Site(plan_network(parse_topology(data)), Path("/tmp/x")), "monitor")
    rules = yaml.safe_load(daemon.files()[daemon.rules_path])["groups"][0]["rules"]
    names = {r.get("alert") for r in rules}
    database = {"GaleraNodeNotReady", "GaleraClusterShrunk", "SemisyncFellBackToAsync"}
    assert names & database == alerts


def test_scrapes_stay_within_their_budget_at_48_servers():
    from hosts.prometheus import SCRAPE_BUDGET_PER_S
    from topo.scale import scaled_topology

    # 52 node exporters (servers, lbs, monitors), a mysqld exporter per database node, 2 HAProxy,
    # 2 fabric exporters, the 2 Prometheus replicas; every replica scrapes every target.
    for db_nodes, expected, every in ((None, 61, 8), (48, 106, 14)):
        large = Site(plan_network(scaled_topology(load_topology(), 47, 16, db_nodes)), Path("/tmp/x"))
        daemon = Prometheus(large, "monitor")
        files = daemon.files()
        config, rules = yaml.safe_load(files[daemon.config_path]), yaml.safe_load(files[daemon.rules_path])
        targets = sum(len(job["static_configs"]) for job in config["scrape_configs"])
        assert targets == expected and config["global"]["scrape_interval"] == f"{every}s"
        assert 2 * targets / every <= SCRAPE_BUDGET_PER_S
        [instance_down] = [r for r in rules["groups"][0]["rules"] if r.get("alert") == "InstanceDown"]
        assert instance_down["for"] == f"{3 * every}s"  # three scrapes


def _group(last: str, interval=1, health="ok") -> dict:
    return {"name": "hatestbed", "interval": interval, "lastEvaluation": last,
            "rules": [{"name": "InstanceDown", "health": health, "lastError": "" if health == "ok" else "boom"}]}


def test_alert_rules_can_raise_an_alert_only_when_evaluated_lately_and_healthy():
    from hosts.prometheus import rule_problems, unix_time

    now = unix_time("2026-11-30T21:40:03.500000000Z")
    assert now == unix_time("2026-11-30T21:40:03.5Z") and now % 1 == 0.5
    assert rule_problems([_group("2026-11-30T21:40:02.999999999Z")], now) == []
    assert rule_problems([_group("2026-11-30T21:39:59Z")], now) == ["rule group hatestbed last evaluated 4.5 s ago"]
    assert rule_problems([_group("2026-11-30T21:40:03Z", health="err")], now) == ["rule InstanceDown: err boom"]
    assert rule_problems([], now) == ["no alert rules loaded"]
