"""db_failover: SIGKILL the writer's mariadbd under write load; the always-on component (Galera
itself, or the failover manager) must restore writes with no help from this experiment.

    client1 ──POST /write every 20 ms──▶ VIP ─▶ apps ─▶ writer
    server1 mariadbd ✗ SIGKILL
      galera:           survivors evict it (evs timers); HAProxy's /health takes server1 out
      semisync, async:  the manager misses 3 checks, promotes the most advanced replica,
                        re-points the other, switches every app's writer file

Runs once per database mode (profiles), side by side. write_outage_ms: the longest time without
an acknowledged write; detect_ms / switch_ms: from the component's own journal; acked_writes_lost:
acknowledged ids missing on a surviving node. Galera: the killed node is restarted after the
trial and rejoins (the next trial's steady state waits for it); the replication modes promoted a
replica for good, so each of their trials starts on a fresh testbed.
"""

from __future__ import annotations

import signal

from experiments import database as db
from experiments.base import Experiment, ExperimentError
from experiments.faults import DaemonKill
from topo.profiles import DB_MODES


class DbFailover(Experiment):
    name = "db_failover"
    description = "SIGKILL the writer's MariaDB under writes; always-on failover; outage and lost acknowledged writes"
    order = 60
    profiles = DB_MODES
    headline = ("write_outage_ms", "detect_ms", "acked_writes_lost")
    metrics = {"write_outage_ms": "stats", "detect_ms": "stats", "switch_ms": "stats", "failed_writes": "stats",
               "acked_writes_lost": "sum", "acked_writes": "sum", "stale_reads": "sum", "failed_reads": "sum"}

    @classmethod
    def fresh_testbed_per_trial(cls, profile: str) -> bool:
        return profile != "galera"

    def validate(self) -> None:
        super().validate()
        if len(self.site.db_nodes) < 3 and self.site.db_mode == "galera":
            raise ExperimentError("db_failover: Galera needs three nodes to keep a majority after a crash")
        if len(self.site.db_nodes) < 2:
            raise ExperimentError("db_failover: needs a second database to fail over to")

    def run_trial(self, index: int) -> dict:
        target = db.writer(self)
        probe = db.start_writes(self, f"db-failover-{self.profile}-{index}")
        try:
            fault = DaemonKill(self.testbed, target, "mariadb", signal.SIGKILL)
            self.inject(fault)
            if self.fresh_testbed_per_trial(self.profile):
                self.keep(fault, "a replica was promoted for good: the next trial starts on a fresh testbed")
            t0 = fault.injected_at
            # Evidence, not a sleep: 25 acknowledged writes sent after the fault.
            self.wait_successes(probe, t0, 25, 30, "writes acknowledged again after the crash")
        finally:
            requests = probe.stop()
        found = db.detection(self, t0, target)
        log = db.write_log(requests, probe.label)
        acked = log.acked
        lost = db.losses(self, log, down={target})
        reads = db.read_your_writes(self, log)
        gap = db.ack_gap(requests, t0)
        failed = sum(1 for r in requests if not r.ok and r.sent >= t0 - 1)
        marks = [(t, label) for t, label in ((found["detected_t"], f"{found['by']}: {target} lost"),
                                             (found["switched_t"], "writes redirected")) if t]
        self.save_timeline(requests, t0, marks, f"{target} mariadbd killed ({self.site.db_mode})")
        return {"mode": self.site.db_mode, "writer": target, "new_primary": found.get("new_primary"),
                "write_outage_ms": gap["gap_ms"], "detect_ms": db.ms_after(found["detected_t"], t0),
                "switch_ms": db.ms_after(found["switched_t"], t0), "failed_writes": failed,
                "acked_writes": len(acked), **lost, "stale_reads": reads["stale_reads"],
                "failed_reads": reads["failed_reads"], "reads": reads}
