"""db_failover: crash the MariaDB primary under write load, promote a replica by script; how long
can nobody write, and is any acknowledged write lost?

    client1 ──POST /write every 20 ms──▶ VIP ─▶ any server's app ─▶ INSERT on the primary
    server1 mariadbd ✗ (SIGKILL)
    failover script (the documented procedure of hosts/mariadb.py):
      1. detect: the primary refuses connections (polled every 100 ms from a replica)
      2. pick the replica that received the most (GTID position), promote it
      3. re-point the other replicas at it; 4. every app writes there from its next request

write_outage_ms comes from the write probe; acked_writes_lost counts acknowledged ids (HTTP 201
with an id) missing from the new primary. Every trial runs on a freshly brought-up testbed
(the old primary is not re-attached: it may hold writes the others never got).
"""

from __future__ import annotations

import signal
import time

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import DaemonKill
from hosts.site import DB_NAME, DB_USERS
from hosts.webapp.app import TABLE
from topo import command
from topo.wait import wait_until


def gtid_seq(position: str, domain: str = "0") -> int:
    """The sequence number of `domain` in a GTID position like "0-1-42,1-3-7" (0 if absent)."""
    for gtid in filter(None, position.split(",")):
        d, _server, seq = gtid.split("-")
        if d == domain:
            return int(seq)
    return 0


class DbFailover(Experiment):
    name = "db_failover"
    description = "crash the MariaDB primary under writes; scripted promotion; write outage and lost acknowledged writes"
    order = 60
    headline = ("write_outage_ms", "acked_writes_lost", "promotion_ms")
    metrics = {"write_outage_ms": "stats", "failed_writes": "stats", "detect_ms": "stats", "promotion_ms": "stats",
               "acked_writes_lost": "sum", "acked_writes": "sum"}
    fresh_testbed_per_trial = True

    def validate(self) -> None:
        super().validate()
        if len(self.site.servers) < 2:
            raise ExperimentError("db_failover: needs a replica to promote")

    def mariadb(self, host):
        return self.testbed.services.find(host, "mariadb")

    def primary_refuses(self, primary: str, observer: str) -> bool:
        result = command.run(["mariadb", "--no-defaults", f"--host={self.site.backend_ip(primary)}",
                              f"--port={self.site.services.ports.mariadb}", "--user=app",
                              f"--password={DB_USERS['app']}", "--connect-timeout=1", "-e", "SELECT 1"],
                             self.testbed.net[observer], check=False, timeout=5)
        return not result.ok

    def fail_over(self, primary: str) -> dict:
        """The failover script: detect, choose, promote, re-point, switch the apps."""
        replicas = [s for s in self.site.servers if s != primary]
        began = time.time()
        wait_until(lambda: self.primary_refuses(primary, replicas[0]), 30, f"{primary} detected down", interval=0.1)
        detected = time.time()
        received = {r: gtid_seq(self.mariadb(r).replication_state(self.testbed.net[r]).get("gtid_io_pos", ""))
                    for r in replicas}
        chosen = max(replicas, key=lambda r: (received[r], -replicas.index(r)))
        self.mariadb(chosen).promote(self.testbed.net[chosen])
        for other in replicas:
            if other != chosen:
                self.mariadb(other).point_at(self.testbed.net[other], chosen)
        for server in self.site.servers:
            self.testbed.services.find(server, "app").set_primary(chosen)
        done = time.time()
        return {"new_primary": chosen, "received_seq": received, "detect_ms": round((detected - began) * 1000, 1),
                "promotion_ms": round((done - detected) * 1000, 1), "detected_at": detected, "done_at": done}

    def run_trial(self, index: int) -> dict:
        primary = self.site.primary_db
        probe = self.start_probe(self.site.clients[0], f"db-failover-{index}", baseline=20,
                                 method="POST", path="/write", interval=0.02, duration=90)
        try:
            fault = DaemonKill(self.testbed, primary, "mariadb", signal.SIGKILL)
            self.inject(fault)
            self.keep(fault, "recovering the old primary would make a second, diverged primary")
            with self.journal.step("failover script") as step:
                failover = step.detail = self.fail_over(primary)
            self.wait_successes(probe, failover["done_at"], 25, 30, "writes acknowledged by the new primary")
        finally:
            requests = probe.stop()
        new_primary = failover["new_primary"]
        acked = {int(r.id) for r in requests if r.ok and r.id}
        rows = self.mariadb(new_primary).sql(self.testbed.net[new_primary], f"SELECT id FROM {DB_NAME}.{TABLE}")
        stored = {int(row["id"]) for row in rows}
        lost = sorted(acked - stored)
        fault_t = fault.injected_at
        result = analysis.outage(requests, fault_t)
        marks = [(failover["detected_at"], f"{primary} detected down"),
                 (failover["done_at"], f"{new_primary} promoted, apps switched")]
        self.save_timeline(requests, fault_t, marks, f"{primary} mariadbd killed")
        return {"old_primary": primary, "new_primary": new_primary, "write_outage_ms": result["outage_ms"],
                "failed_writes": result["failed_requests"], "acked_writes": len(acked),
                "acked_writes_lost": len(lost), "lost_ids": lost[:20], "detect_ms": failover["detect_ms"],
                "promotion_ms": failover["promotion_ms"]}
