"""Alertmanager on every monitor host, clustered: whichever Prometheus replica raises an alert,
and with either monitor host gone, the receiver gets it once.

    Prometheus (monitor)          Prometheus (monitor2)
           └──────────────┬──────────────┘        every replica sends every alert
           ┌──────────────┴──────────────┐        to every Alertmanager (:9093)
           ▼                             ▼
    Alertmanager (monitor) ◀─ gossip ─▶ Alertmanager (monitor2)     :9094, TCP + UDP
           │ webhook 127.0.0.1:9095      │ webhook 127.0.0.1:9095
           ▼                             ▼
    recorder (monitor)            recorder (monitor2)
           │                             │
           └──▶ alerts-received.jsonl ◀──┘        <run>/logs/: one file, both append

Deduplication (Alertmanager 0.25): both replicas send the same alert (identical labels: the
same targets and labels, identical external_labels), so each Alertmanager holds it once. Each
waits group_wait, then its position × --cluster.peer-timeout (cmd/alertmanager/main.go
clusterWait; the position is its rank among the live members sorted by name, and the names
are ULIDs, so the one started first is 0), then looks in its notification log: it sends only
if no peer logged the notification. The sender logs it after delivery and gossips the entry.
One monitor host: no cluster (--cluster.listen-address= empty), nothing to wait for.

Timers (a fault is held ~5 s in the experiments, so every wait must be seconds):
  peer-timeout 2 s     the second member waits 2 s: the first's log entry is broadcast on the
                       next gossip rounds (every 200 ms, 3 transmissions: cluster.Create sets
                       RetransmitMult max(3, peers/2), × ceil(log10(members+1)) = 1), so it has
                       arrived ~0.6 s after the first sent, with margin for a webhook answer and
                       a loaded 2-core machine. The default 15 s outlasts the fault. Measured on
                       loopback, 20 alerts sent to both: peer-timeout 0 → 20 duplicates, 100 ms →
                       10, 300 ms → none (the entry lands within one gossip interval when idle).
  probe 500/200 ms     memberlist (v0.5.0) suspects a member after a failed probe and declares it
                       dead SuspicionMult 4 × probe interval later (two members: no confirmations,
                       the minimum applies): a dead peer is out ~3 s after it stops (default ~6 s),
                       and the survivor, now position 0, sends at once.
  reconnect 2 s        a member marked failed (a cut that healed) is joined again within 2 s, not
                       10 s; until then both are position 0 and would both send.
  tcp-timeout 2 s      joining (at start, before the API listens) waits this long for a peer whose
                       host is gone: measured against a peer that never answers, ready after 13 s
                       with the default 10 s, 5 s with 2 s (then the settle-timeout).
  settle-timeout 1.5 s notifications are held until the gossip "settles" (3 stable polls 10 gossip
                       intervals apart: ~6 s at the least, so the timeout always ends it). Joining
                       already exchanged the full state (notification log, silences) with every
                       peer reached, so the wait adds nothing here but time: 3 s made every bring-up
                       in a replication mode wait ~1.8 s for it (Galera's joiners hide it).
  group_wait 1 s, group_interval 2 s, repeat_interval 1 h   (hosts/templates/alertmanager.yml.j2)

Stopping: on SIGTERM an Alertmanager gossips that it leaves and waits (10 s, hard-coded) until
a live peer has had it. Stopped alone it exits in ~2 s; stopped together with its peer (the
manager stops a stage at once) neither has a live peer left to tell, and both take the stop
grace, then SIGKILL. Nothing is lost: the state on disk is the run's own.

Per host: conf/<host>/alertmanager.yml, data/<host>/alertmanager/ (notification log and silences
snapshots), logs/<host>-alertmanager.log. Helpers run curl inside a host: cluster_peers(),
alerts(), answers(), status().
"""

from __future__ import annotations

import json
from pathlib import Path

from hosts.alert_receiver import webhook_url
from hosts.daemon import Daemon, ServiceError, render
from hosts.prometheus import http_get

GROUP_WAIT = "1s"
GROUP_INTERVAL = "2s"
REPEAT_INTERVAL = "1h"
# Gossip timers, explained in the module docstring.
PEER_TIMEOUT = "2s"
GOSSIP_INTERVAL = "200ms"  # the default, written down: PEER_TIMEOUT is chosen against it
PROBE_INTERVAL = "500ms"
PROBE_TIMEOUT = "200ms"  # round trips on the emulated network are well below 1 ms
RECONNECT_INTERVAL = "2s"
TCP_TIMEOUT = "2s"  # the full state exchange is a few kB on a sub-millisecond network
SETTLE_TIMEOUT = "1.5s"


class Alertmanager(Daemon):
    name = "alertmanager"
    binary = "prometheus-alertmanager"
    package = "prometheus-alertmanager"
    # Started with the firewall, ready (settled) before Prometheus (stage 6) sends anything: its
    # gossip join and the settle-timeout run while the databases come up, not after them.
    stage = 0
    ready_by = 6
    # On TERM it broadcasts its leave to the cluster and waits up to 10 s for it to go out; at
    # teardown its peer is stopping too and the wait always runs out ("unable to leave gossip
    # mesh"), so a stopping testbed gives it 0.3 s (its silences and notification log die with
    # the run directory anyway).
    teardown_grace = 0.3
    ready_timeout = 15.0  # start-up + TCP_TIMEOUT (a peer gone) + SETTLE_TIMEOUT, with margin

    @property
    def config_path(self) -> Path:
        return self.conf_path("alertmanager.yml")

    @property
    def data_dir(self) -> Path:
        return self.site.data(self.host, self.name)

    @property
    def address(self) -> str:
        return f"{self.site.backend_ip(self.host)}:{self.site.services.ports.alertmanager}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def cluster_address(self, host: str) -> str:
        return f"{self.site.backend_ip(host)}:{self.site.services.ports.alertmanager_cluster}"

    @property
    def peers(self) -> list[str]:
        """The gossip addresses of the other monitor hosts' Alertmanagers."""
        return [self.cluster_address(h) for h in self.site.monitors if h != self.host]

    # -- pure -------------------------------------------------------------------------------------
    def files(self) -> dict[Path, str]:
        config = render("alertmanager.yml.j2", group_wait=GROUP_WAIT, group_interval=GROUP_INTERVAL,
                        repeat_interval=REPEAT_INTERVAL, webhook_url=webhook_url(self.site))
        return {self.config_path: config}

    def check_command(self) -> list[str]:
        return ["amtool", "check-config", str(self.config_path)]

    def cluster_flags(self) -> list[str]:
        if not self.peers:  # one monitor host: no cluster, and no gossip port opened
            return ["--cluster.listen-address="]
        own = self.cluster_address(self.host)
        return ([f"--cluster.listen-address={own}", f"--cluster.advertise-address={own}"]
                + [f"--cluster.peer={peer}" for peer in self.peers]
                + [f"--cluster.peer-timeout={PEER_TIMEOUT}", f"--cluster.gossip-interval={GOSSIP_INTERVAL}",
                   f"--cluster.probe-interval={PROBE_INTERVAL}", f"--cluster.probe-timeout={PROBE_TIMEOUT}",
                   f"--cluster.reconnect-interval={RECONNECT_INTERVAL}", f"--cluster.tcp-timeout={TCP_TIMEOUT}",
                   f"--cluster.settle-timeout={SETTLE_TIMEOUT}"])

    def command(self) -> list[str]:
        return (["prometheus-alertmanager",
                 f"--config.file={self.config_path}",
                 f"--storage.path={self.data_dir}",
                 f"--web.listen-address={self.address}",
                 # Links in notifications name this host, not the machine's hostname.
                 f"--web.external-url={self.url}"]
                + self.cluster_flags()
                + ["--log.level=info"])  # info: joins, failed peers and settling, no per-alert lines

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def api(self, node, path: str) -> dict | list:
        code, body = http_get(node, f"{self.url}{path}", timeout=3.0)
        if code != 200:
            raise ServiceError(f"{self.label}: GET {path} answered {code or 'nothing'}: {body[:200]}")
        try:
            return json.loads(body)
        except ValueError:
            raise ServiceError(f"{self.label}: GET {path}: not JSON: {body[:200]}") from None

    def cluster(self, node) -> dict:
        """{"status": "ready" | "settling" | "disabled", "peers": [{"name", "address"}], "name"}."""
        return self.api(node, "/api/v2/status")["cluster"]

    def cluster_peers(self, node) -> list[dict]:
        """The members it sees alive (itself included): [{"name": ULID, "address": "ip:port"}]."""
        return self.cluster(node).get("peers", [])

    def alerts(self, node) -> list[dict]:
        """The alerts it holds: [{"labels", "status": {"state": active|suppressed|unprocessed},
        "startsAt", "endsAt", "fingerprint", "receivers", ...}]."""
        return self.api(node, "/api/v2/alerts")

    def answers(self, node) -> bool:
        """Does it answer /-/ready when asked from inside `node` (e.g. a Prometheus host)?"""
        return http_get(node, f"{self.url}/-/ready", timeout=1.0)[0] == 200

    def is_ready(self, node) -> bool:
        # /-/ready answers 200 as soon as the API listens; notifications wait for the settling.
        if not self.answers(node):
            return False
        try:
            return self.cluster(node)["status"] in ("ready", "disabled")
        except (ServiceError, KeyError, TypeError):
            return False

    def status(self, node) -> str:
        try:
            cluster, alerts = self.cluster(node), self.alerts(node)
        except (ServiceError, KeyError, TypeError) as exc:
            return f"not answering ({exc})"
        active = sum(a.get("status", {}).get("state") == "active" for a in alerts)
        members = "no cluster" if cluster["status"] == "disabled" else \
            f"cluster {cluster['status']}, {len(cluster.get('peers', []))} members"
        return f"{self.address}: {members}, {active} active alert(s) of {len(alerts)}"
