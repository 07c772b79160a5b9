"""The alerting tier rendered from the model (no root): a clustered Alertmanager and a recording
webhook on every monitor host, every Prometheus replica sending to every Alertmanager with the
same labels; the recorder's line format and the delivery count."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from hosts.alert_receiver import AlertReceiver, journal_path, webhook_url
from hosts.alertmanager import PEER_TIMEOUT, Alertmanager
from hosts.alertreceiver.recorder import WEBHOOK_PATH, handler_for
from hosts.alertreceiver.records import LINE_LIMIT, count_deliveries, deliveries, record_lines
from hosts.daemon import ServiceError
from hosts.prometheus import Prometheus
from hosts.roles import daemons_for
from hosts.site import Site
from tests.http_stub import serving
from tests.unit.test_monitoring_templates import _Node  # runs a command in this namespace
from topo.model import load_topology, parse_topology
from topo.plan import plan_network

RUN = Path("/tmp/run")


def site_with_monitors(count: int, run: Path = RUN) -> Site:
    """The default site with `count` monitor hosts: monitor (s4), monitor2 (s3), monitor3 (s5)."""
    data = load_topology().model_dump(mode="json", by_alias=True)
    hosts = data["hosts"]
    for name in [h for h, host in hosts.items() if host["role"] == "monitor"]:
        del hosts[name]
    for name, switch in list(zip(["monitor", "monitor2", "monitor3"], ["s4", "s3", "s5"]))[:count]:
        hosts[name] = {"role": "monitor", "interfaces": [{"network": "service", "switch": switch}]}
    return Site(plan_network(parse_topology(data, f"{count} monitors")), run)


@pytest.fixture(scope="module")
def pair() -> Site:
    return site_with_monitors(2)


def flags(argv: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]


# -- Alertmanager -----------------------------------------------------------------------------------
def test_every_alert_goes_to_the_recorder_of_the_alertmanagers_own_host(pair):
    texts = {h: Alertmanager(pair, h).files()[pair.conf(h, "alertmanager.yml")] for h in ("monitor", "monitor2")}
    assert texts["monitor"] == texts["monitor2"]  # a cluster's members share one configuration
    config = yaml.safe_load(texts["monitor"])
    route = config["route"]
    assert route["receiver"] == "recorder" and "routes" not in route
    assert route["group_by"] == ["..."]  # one alert per notification
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("1s", "2s", "1h")
    [receiver] = config["receivers"]
    assert receiver["name"] == "recorder"
    assert receiver["webhook_configs"] == [{"url": "http://127.0.0.1:9095/alerts", "send_resolved": True}]
    assert webhook_url(pair) == "http://127.0.0.1:9095" + WEBHOOK_PATH


def test_the_pair_gossips_on_the_service_network_each_naming_the_other(pair):
    argv = Alertmanager(pair, "monitor").command()
    assert argv[0] == "prometheus-alertmanager"
    assert flags(argv, "web.listen-address") == ["10.0.2.15:9093"]
    assert flags(argv, "cluster.listen-address") == ["10.0.2.15:9094"]
    assert flags(argv, "cluster.advertise-address") == ["10.0.2.15:9094"]
    assert flags(argv, "cluster.peer") == ["10.0.2.16:9094"]
    assert flags(Alertmanager(pair, "monitor2").command(), "cluster.peer") == ["10.0.2.15:9094"]
    # Seconds, not the default 15 s: the second member's wait before it sends what nobody logged.
    assert flags(argv, "cluster.peer-timeout") == [PEER_TIMEOUT] == ["2s"]
    assert flags(argv, "cluster.probe-interval") == ["500ms"] and flags(argv, "cluster.probe-timeout") == ["200ms"]
    assert flags(argv, "cluster.settle-timeout") == ["1.5s"] and flags(argv, "cluster.reconnect-interval") == ["2s"]
    assert flags(argv, "cluster.tcp-timeout") == ["2s"]
    # Per host: one filesystem for every host.
    assert flags(argv, "storage.path") == [str(pair.data("monitor", "alertmanager"))]
    assert flags(argv, "config.file") == [str(pair.conf("monitor", "alertmanager.yml"))]
    assert Alertmanager(pair, "monitor").check_command() == ["amtool", "check-config",
                                                             str(pair.conf("monitor", "alertmanager.yml"))]


def test_one_monitor_runs_no_cluster_and_three_name_two_peers_each():
    alone = Alertmanager(site_with_monitors(1), "monitor").command()
    assert flags(alone, "cluster.listen-address") == [""]
    assert not [a for a in alone if a.startswith(("--cluster.peer", "--cluster.advertise"))]
    three = site_with_monitors(3)
    assert flags(Alertmanager(three, "monitor2").command(), "cluster.peer") == [
        f"{three.backend_ip('monitor')}:9094", f"{three.backend_ip('monitor3')}:9094"]


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (Debian prometheus-alertmanager) not installed")
def test_rendered_configuration_passes_amtool(tmp_path):
    daemon = Alertmanager(site_with_monitors(2, tmp_path), "monitor")
    for path, text in daemon.files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = subprocess.run(daemon.check_command(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Prometheus -------------------------------------------------------------------------------------
def test_every_replica_sends_to_every_alertmanager_with_identical_labels(pair):
    configs = {}
    for host in ("monitor", "monitor2"):
        daemon = Prometheus(pair, host)
        configs[host] = yaml.safe_load(daemon.files()[daemon.config_path])
    for config in configs.values():
        [managers] = config["alerting"]["alertmanagers"]
        assert managers["static_configs"] == [{"targets": ["10.0.2.15:9093", "10.0.2.16:9093"]}]
        assert managers["api_version"] == "v2" and managers["timeout"] == "1s"
        [job] = [j for j in config["scrape_configs"] if j["job_name"] == "prometheus"]
        assert [g["targets"] for g in job["static_configs"]] == [["10.0.2.15:9090"], ["10.0.2.16:9090"]]
    # Same alert from either replica: the Alertmanagers hold it once. Only the rule file's
    # (per-host) path differs.
    first, second = ({k: v for k, v in c.items() if k != "rule_files"} for c in configs.values())
    assert first == second
    assert first["global"]["external_labels"] == {"testbed": "seed"}


def test_two_replicas_share_one_scrape_budget():
    # 16 targets a replica, 2 replicas: 32 scrapes a second at 1 s, twice the machine's budget.
    default = Site(plan_network(load_topology()), RUN)
    assert Prometheus(default, "monitor").scrape_interval_s() == 2


# -- composition --------------------------------------------------------------------------------------
def test_every_monitor_runs_an_alertmanager_and_a_receiver_ready_before_prometheus(pair):
    daemons = daemons_for(pair)
    for host in ("monitor", "monitor2"):
        names = {d.name: d for d in daemons if d.host == host}
        assert {"alertmanager", "alert_receiver", "prometheus"} <= set(names)
        # Both ready before Prometheus raises anything; the Alertmanager starts early (its gossip
        # settles while the databases come up) but is only needed ready by Prometheus's stage.
        assert names["alert_receiver"].stage < names["prometheus"].stage
        assert names["alertmanager"].stage < names["prometheus"].stage
        assert names["alertmanager"].ready_by is not None and names["alertmanager"].ready_by <= names["prometheus"].stage
    assert not [d for d in daemons if d.name in ("alertmanager", "alert_receiver") and not d.host.startswith("monitor")]


def test_the_spof_model_sees_each_alertmanager_deliver_to_its_hosts_receiver(pair):
    from spof.facts import site_facts

    facts = site_facts(pair.topology, pair.plan)
    assert facts.alerting == {"monitor": ("monitor", "monitor2"), "monitor2": ("monitor", "monitor2")}
    assert facts.receivers == {"monitor": (("monitor", "alert_receiver"),),
                               "monitor2": (("monitor2", "alert_receiver"),)}


def test_the_receiver_listens_on_loopback_and_appends_to_the_runs_shared_file(pair):
    daemon = AlertReceiver(pair, "monitor2")
    argv = daemon.command()
    assert argv[argv.index("-m") + 1] == "hosts.alertreceiver.recorder"
    assert argv[argv.index("--address") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "9095"
    assert argv[argv.index("--journal") + 1] == str(RUN / "logs" / "alerts-received.jsonl")
    assert daemon.journal == journal_path(pair) == AlertReceiver(pair, "monitor").journal
    assert daemon.port == 9095


# -- the recorder -------------------------------------------------------------------------------------
def payload(status: str = "firing", *alerts: tuple[str, str]) -> dict:
    return {"version": "4", "receiver": "recorder", "status": status, "groupKey": '{}:{alertname="InstanceDown"}',
            "alerts": [{"status": status, "labels": {"alertname": name, "instance": instance, "job": "node"},
                        "startsAt": "2026-12-04T03:47:07.079Z", "fingerprint": f"fp-{instance}"}
                       for name, instance in alerts]}


def test_one_json_line_per_alert_per_notification():
    lines = record_lines(payload("firing", ("InstanceDown", "server1"), ("InstanceDown", "lb2")), "monitor", 1.5)
    assert len(lines) == 2 and all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert json.loads(lines[0]) == {"t": 1.5, "recorder": "monitor", "receiver": "recorder", "status": "firing",
                                    "alertname": "InstanceDown", "instance": "server1", "fingerprint": "fp-server1",
                                    "startsAt": "2026-12-04T03:47:07.079Z",
                                    "groupKey": '{}:{alertname="InstanceDown"}'}
    huge = payload("firing", ("X" * 9000, "server1"))
    huge["groupKey"] = "k" * 9000
    [line] = record_lines(huge, "monitor", 1.0)
    assert len(line) <= LINE_LIMIT < 4096 and json.loads(line)["instance"] == "server1"


def test_count_deliveries_counts_every_notification_duplicates_included(tmp_path):
    path = tmp_path / "alerts.jsonl"
    assert deliveries(path) == []
    with open(path, "ab") as out:
        for recorder, status in (("monitor", "firing"), ("monitor2", "firing"), ("monitor", "resolved")):
            for line in record_lines(payload(status, ("InstanceDown", "server1")), recorder, 2.0):
                out.write(line)
        out.write(b'{"t": 3, "recorder": "monitor", "sta')  # a line still being written
    records = deliveries(path)
    assert [r["recorder"] for r in records] == ["monitor", "monitor2", "monitor"]
    assert count_deliveries(records, "InstanceDown", "server1") == 2  # a duplicate: seen, not hidden
    assert count_deliveries(records, "InstanceDown", "server1", "resolved") == 1
    assert count_deliveries(records, "InstanceDown", "server2") == 0


def test_the_recorder_answers_ready_and_records_each_post(tmp_path):
    import os

    journal = tmp_path / "alerts.jsonl"
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for("monitor2", fd))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert urllib.request.urlopen(f"{base}/-/ready", timeout=5).status == 200
        body = json.dumps(payload("firing", ("HAProxyServerDown", "lb1"))).encode()
        request = urllib.request.Request(f"{base}{WEBHOOK_PATH}", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=5).status == 200
        bad = urllib.request.Request(f"{base}{WEBHOOK_PATH}", data=b"not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=5)
        assert refused.value.code == 400
    finally:
        server.shutdown()
        server.server_close()
        os.close(fd)
    [record] = deliveries(journal)
    assert (record["recorder"], record["alertname"], record["instance"]) == ("monitor2", "HAProxyServerDown", "lb1")


# -- live helpers, against a stand-in Alertmanager API ---------------------------------------------
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_helpers_read_the_cluster_and_the_alerts_and_raise_when_nothing_answers(pair):
    answers = {"/-/ready": "OK",
               "/api/v2/alerts": json.dumps([{"labels": {"alertname": "A"}, "status": {"state": "active"}}]),
               "/api/v2/status": json.dumps({"cluster": {"name": "01B", "status": "settling", "peers": [
                   {"name": "01A", "address": "10.0.2.16:9094"}, {"name": "01B", "address": "10.0.2.15:9094"}]}})}

    with serving(answers) as base:
        class Local(Alertmanager):
            url = base

        daemon = Local(pair, "monitor")
        assert [p["address"] for p in daemon.cluster_peers(_Node)] == ["10.0.2.16:9094", "10.0.2.15:9094"]
        assert daemon.alerts(_Node)[0]["labels"]["alertname"] == "A"
        assert daemon.answers(_Node) and not daemon.is_ready(_Node)  # answering, not settled yet
        assert "cluster settling, 2 members, 1 active alert(s) of 1" in daemon.status(_Node)
        answers["/api/v2/status"] = answers["/api/v2/status"].replace("settling", "ready")
        assert daemon.is_ready(_Node)
    with pytest.raises(ServiceError, match="answered nothing"):
        daemon.cluster_peers(_Node)
    assert daemon.status(_Node).startswith("not answering")
