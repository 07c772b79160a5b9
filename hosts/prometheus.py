"""Prometheus on every monitor host: scrapes every exporter of every host, evaluates the alert
rules, sends the alerts to every monitor's Alertmanager.

    monitor:9090 (Prometheus, 1 s scrapes or longer at scale, TSDB in <run>/data/monitor/prometheus/)
      ├─ job node      node_exporter  on lbs (back leg), servers, monitor   :9100 /metrics
      ├─ job mysqld    mysqld_exporter on database nodes                    :9104 /metrics
      ├─ job haproxy   HAProxy's built-in exporter on lbs (back leg)        :8404 /metrics
      ├─ job fabric    the controllers' roles, the switches' flows and guards  :9105 /metrics
      │                (hosts/fabric_exporter.py, on every monitor)
      └─ job prometheus every replica, itself included                     :9090 /metrics
    every target is labelled instance=<host>, role=<role>; rules: <conf>/monitor/prometheus-rules.yml
    alerts ──▶ every monitor's Alertmanager                                  :9093 (hosts/alertmanager.py)

Replicas: every monitor host runs one, with the same targets, labels and external_labels (no
replica label), so both raise the same alert, byte for byte, and the Alertmanager pair holds it
as one alert and delivers it once (hosts/alertmanager.py).

All scrapes go over the back-end network (the monitor has no leg on the internet side). The
scrape interval is 1 s up to SCRAPE_BUDGET_PER_S scrapes a second across every replica (each
scrapes every target), then the whole seconds that keep them within it (the default's 2 replicas
of 15 targets: every 2 s; 61 targets at 48 servers and 3 database nodes: every 8 s); the rules'
`for` is three scrapes.
Helpers for tests and experiments run curl inside a host (the root namespace cannot reach the
emulated network): http_get(), Prometheus.targets_up(), .wait_targets_up(), .query(), .alerts().
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from hosts.daemon import Daemon, ServiceError, render
from hosts.haproxy import BACKEND
from runtime import command
from runtime.wait import NotReadyError, wait_until

# Scrapes per second of every replica together: each is an HTTP request to an exporter that
# reads /proc or queries MariaDB, then ingestion, on the same two cores as everything else (a
# mysqld_exporter scrape alone costs ~30 ms of CPU). The budget is the one a single replica had
# at 1 s scrapes: 2 replicas × 15 targets every 1 s made the machine 13 points busier at rest
# (64 % of both cores, from 51 %), and `--experiment all` ran 8 min 19 s instead of 5 min, so
# the default's two replicas scrape every 2 s; at 48 servers, 61 targets every 8 s.
SCRAPE_BUDGET_PER_S = 16
SCRAPE_TIMEOUT_S = 1.0
SCRAPE_TIMEOUT = f"{SCRAPE_TIMEOUT_S:g}s"
# First scrape of every target: up to 5 s of target discovery + one scrape interval + margin.
TARGETS_MARGIN_S = 9.0
# A send to the Alertmanagers waits for every one of them (notifier.sendAll) before the next
# batch: a monitor host gone silent would hold every later alert back for this long (default
# 10 s). An Alertmanager here answers in milliseconds.
ALERTMANAGER_TIMEOUT = "1s"
# --rules.alert.resend-delay stays at its 1 m: a firing alert is sent again that often. Shorter,
# the replica that sees a recovery a scrape later would more often re-send "firing" just after
# the other replica's "resolved", and the Alertmanagers would notify the alert firing again.


def http_get(node, url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(HTTP status, body) of a GET from inside `node`; status 0 when nothing answered."""
    result = command.run(["curl", "-sS", "-m", f"{timeout:g}", "-o", "-", "-w", "\n%{http_code}", url],
                         node, check=False, timeout=timeout + 5)
    body, _, code = result.stdout.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body


def unix_time(rfc3339: str) -> float:
    """Prometheus's timestamps (RFC 3339, nanoseconds, Z) as unix time."""
    stamp = rfc3339.replace("Z", "+00:00")
    if "." in stamp:  # Python parses at most microseconds
        whole, rest = stamp.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stamp = f"{whole}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    return datetime.fromisoformat(stamp).timestamp()


def rule_problems(groups: list[dict], now: float, missed: int = 3) -> list[str]:
    """From /api/v1/rules: a group not evaluated for `missed` of its intervals, a rule whose
    last evaluation failed. Either means an alert could not be raised."""
    problems = []
    for group in groups:
        age = now - unix_time(group["lastEvaluation"])
        if age > missed * group["interval"]:
            problems.append(f"rule group {group['name']} last evaluated {age:.1f} s ago")
        problems += [f"rule {rule['name']}: {rule['health']} {rule.get('lastError', '')}".strip()
                     for rule in group["rules"] if rule["health"] != "ok"]
    return problems or ([] if groups else ["no alert rules loaded"])


class Prometheus(Daemon):
    name = "prometheus"
    binary = "prometheus"
    package = "prometheus"
    stage = 6
    ready_timeout = 30.0

    @property
    def config_path(self) -> Path:
        return self.conf_path("prometheus.yml")

    @property
    def rules_path(self) -> Path:
        return self.conf_path("prometheus-rules.yml")

    @property
    def data_dir(self) -> Path:
        return self.site.data(self.host, self.name)

    @property
    def address(self) -> str:
        return f"{self.site.backend_ip(self.host)}:{self.site.services.ports.prometheus}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # -- pure -------------------------------------------------------------------------------------
    def jobs(self) -> list[dict]:
        """Scrape jobs: {name, path, targets: [{host, role, address}]}, every exporter of the site."""
        site, ports = self.site, self.site.services.ports

        def targets(hosts, port):
            return [{"host": h, "role": site.topology.hosts[h].role, "address": f"{site.backend_ip(h)}:{port}"}
                    for h in hosts]

        jobs = [
            {"name": "node", "path": "/metrics",
             "targets": targets(site.lbs + site.servers + site.monitors, ports.node_exporter)},
            {"name": "mysqld", "path": "/metrics", "targets": targets(site.db_nodes, ports.mysqld_exporter)},
            {"name": "haproxy", "path": "/metrics", "targets": targets(site.lbs, ports.haproxy_metrics)},
            # The controllers and switches, seen from every monitor (hosts/fabric_exporter.py).
            {"name": "fabric", "path": "/metrics", "targets": targets(site.monitors, ports.fabric_exporter)},
            # Every replica, so that each sees the other's health (and its own).
            {"name": "prometheus", "path": "/metrics", "targets": targets(site.monitors, ports.prometheus)},
            # No job for the Alertmanagers: 2 more targets a replica would take the default
            # site over SCRAPE_BUDGET_PER_S at 2 s (2 × 18 > 32) and every scrape, and every
            # alert's `for`, to 3 s. Alertmanager.status() and .cluster_peers() show them.
        ]
        return [job for job in jobs if job["targets"]]  # e.g. a topology without load balancers

    def alertmanagers(self) -> list[str]:
        """Where the alerts go: every monitor host's Alertmanager (hosts/alertmanager.py)."""
        return [f"{self.site.backend_ip(h)}:{self.site.services.ports.alertmanager}" for h in self.site.monitors]

    def scrape_interval_s(self) -> int:
        """1 s, or the whole seconds that keep every replica's scrapes of every target within
        SCRAPE_BUDGET_PER_S: a budget of the machine, whatever the number of replicas."""
        targets = sum(len(job["targets"]) for job in self.jobs()) * max(1, len(self.site.monitors))
        return max(1, math.ceil(targets / SCRAPE_BUDGET_PER_S))

    def files(self) -> dict[Path, str]:
        site = self.site
        interval = self.scrape_interval_s()
        config = render("prometheus.yml.j2", host=self.host, topology_name=site.topology.name,
                        scrape_interval=f"{interval}s", scrape_timeout=SCRAPE_TIMEOUT,
                        rules_path=self.rules_path, jobs=self.jobs(), alertmanagers=self.alertmanagers(),
                        alertmanager_timeout=ALERTMANAGER_TIMEOUT)
        # "for": three scrapes in a row, whatever the interval.
        rules = render("prometheus-rules.yml.j2", vip=site.vip, backend=BACKEND,
                       lbs_regex="|".join(site.lbs), scrape_interval=f"{interval}s",
                       for_short=f"{3 * interval}s", change_window="1m", db_mode=site.db_mode,
                       galera_members=len(site.db_nodes))
        return {self.config_path: config, self.rules_path: rules}

    def check_command(self) -> list[str]:
        # Checks the configuration and every rule file it names.
        return ["promtool", "check", "config", str(self.config_path)]

    def command(self) -> list[str]:
        return ["prometheus",
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address={self.address}",
                "--log.level=warn"]

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def is_ready(self, node) -> bool:
        code, _ = http_get(node, f"{self.url}/-/ready", timeout=1.0)
        return code == 200

    def wait_targets_up(self, node, timeout: float | None = None) -> tuple[int, int]:
        """Wait until every target has been scraped and is up; raise naming the ones that are not.

        Not part of is_ready: Prometheus 2.42 hands static targets to its scrape loops only
        every 5 s (discovery manager), so the first scrapes come ~5-6 s after start. Call this
        where monitoring must be complete (smoke checks, tests), not on every start. The default
        timeout allows for discovery, one scrape interval and a margin.
        """
        if timeout is None:
            timeout = 5.0 + self.scrape_interval_s() + TARGETS_MARGIN_S
        def all_up():
            targets = self.targets(node)
            return bool(targets) and all(t["health"] == "up" for t in targets)

        try:
            wait_until(all_up, timeout, "every Prometheus target up")
        except NotReadyError:
            down = [f"{t['job']}/{t['instance']} ({t['health']}: {t['lastError'] or 'not scraped yet'})"
                    for t in self.targets(node) if t["health"] != "up"]
            raise ServiceError(f"{self.label}: targets not up within {timeout:g} s: "
                               f"{', '.join(down) or 'no targets yet'}") from None
        return self.targets_up(node)

    def api(self, node, path: str) -> dict:
        code, body = http_get(node, f"{self.url}{path}", timeout=5.0)
        if code != 200:
            raise ServiceError(f"{self.label}: GET {path} answered {code or 'nothing'}: {body[:200]}")
        reply = json.loads(body)
        if reply.get("status") != "success":
            raise ServiceError(f"{self.label}: GET {path}: {reply.get('error', reply)}")
        return reply["data"]

    def targets(self, node) -> list[dict]:
        """Active targets: {job, instance, health ("up"/"down"/"unknown"), lastError}."""
        data = self.api(node, "/api/v1/targets?state=active")
        return [{"job": t["labels"].get("job"), "instance": t["labels"].get("instance"),
                 "health": t["health"], "lastError": t.get("lastError", "")}
                for t in data["activeTargets"]]

    def targets_up(self, node) -> tuple[int, int]:
        """(targets up, targets in total)."""
        targets = self.targets(node)
        return sum(t["health"] == "up" for t in targets), len(targets)

    def query(self, node, promql: str) -> list[dict]:
        """An instant query's result vector: [{"metric": {...}, "value": [time, "value"]}]."""
        return self.api(node, f"/api/v1/query?query={quote(promql)}")["result"]

    def rule_problems(self, node, now: float) -> list[str]:
        """Why the alert rules could not raise an alert at `now` (empty when they can)."""
        return rule_problems(self.api(node, "/api/v1/rules?type=alert")["groups"], now)

    def alerts(self, node) -> list[dict]:
        """Pending and firing alerts: [{"labels": {...}, "state": ..., "activeAt": ...}]."""
        return self.api(node, "/api/v1/alerts")["alerts"]

    def status(self, node) -> str:
        try:
            up, total = self.targets_up(node)
        except (ServiceError, ValueError, KeyError) as exc:
            return f"not answering ({exc})"
        if total == 0:
            return "no targets yet (the first scrapes come ~5 s after start)"
        return f"{up}/{total} targets up, scraped every {self.scrape_interval_s()} s"
