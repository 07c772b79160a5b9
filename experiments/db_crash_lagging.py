"""db_crash_lagging: the writer's outgoing replication is cut for 2 s while clients keep writing,
then the writer crashes with the cut still in place. Which acknowledged writes survive?

    client1 ──POST /write──▶ VIP ─▶ apps ─▶ writer (server1)
    server1: iptables OUTPUT DROP to the other servers' replication ports   (2 s, writes go on)
      async     the primary acknowledges; replicas receive nothing → acknowledged writes LOST
      semisync  commits wait for a replica's acknowledgement (AFTER_SYNC): not acknowledged
                (unless the wait outlasts rpl_semi_sync_master_timeout: then async, and lost)
      galera    the cut node cannot certify; the others evict it; its commits fail
    server1 mariadbd ✗ SIGKILL; the cut stays until writes are acknowledged again (the node
    stays dead; a path reopened at once would let the kernel flush the dead process's buffers)
    galera: the killed node is restarted after the trial and rejoins (the next trial, or the
    next experiment, reuses the testbed); the replication modes promoted a replica for good, so
    each of their trials starts on a fresh testbed.

Same checks as db_failover; the lesson is acked_writes_lost per mode.
"""

from __future__ import annotations

import signal
import time

from experiments import database as db
from experiments.base import Experiment
from topo.profiles import DB_MODES
from experiments.faults import DaemonKill
from experiments.faults.base import Fault, now
from runtime import command

CUT_S = 2.0


class ReplicationCut(Fault):
    """iptables on the writer: drop what it sends to the other servers' replication ports. A
    fault of this experiment only (its address is not in the fault catalogue)."""

    kind = "replication_cut"

    def __init__(self, testbed, host: str):
        super().__init__(testbed)
        self.host = host
        self.node = testbed.net[host]
        site = testbed.site
        ports = site.services.ports
        others = ",".join(site.backend_ip(s) for s in site.db_nodes if s != host)
        # Replication modes: the binlog stream leaves the primary from its MariaDB port.
        # Galera: group communication to and from every member's gcomm port.
        if site.db_mode == "galera":
            matches = [["--dport", str(ports.galera)], ["--sport", str(ports.galera)]]
        else:
            matches = [["--sport", str(ports.mariadb)]]
        self.rules = [["OUTPUT", "-p", "tcp", "-d", others, *m, "-j", "DROP"] for m in matches]

    @property
    def address(self) -> str:
        return f"replication-cut:{self.host}"

    def target(self) -> dict:
        return {"host": self.host, "rules": self.rules}

    def inject(self) -> dict:
        self.injected_at = now()
        for rule in self.rules:
            command.run(["iptables", "-I", *rule], self.node)
        return self._details(injected_at=self.injected_at)

    def recover(self) -> dict:
        self.recovered_at = now()
        for rule in self.rules:  # idempotent: a rule already gone is not an error
            command.run(["iptables", "-D", *rule], self.node, check=False)
        return self._details(recovered_at=self.recovered_at)


class DbCrashLagging(Experiment):
    name = "db_crash_lagging"
    description = "cut the writer's replication for 2 s under writes, then crash it: acknowledged writes lost per mode"
    order = 61
    in_all = False  # a study of its own (3 modes x N trials, mostly fresh testbeds): run it by name
    profiles = DB_MODES
    headline = ("acked_writes_lost", "write_outage_ms", "acked_during_cut")
    metrics = {"acked_writes_lost": "sum", "acked_during_cut": "sum", "write_outage_ms": "stats",
               "detect_ms": "stats", "acked_writes": "sum", "stale_reads": "sum", "failed_reads": "sum"}

    @classmethod
    def fresh_testbed_per_trial(cls, profile: str) -> bool:
        return profile != "galera"

    def run_trial(self, index: int) -> dict:
        target = db.writer(self)
        probe = db.start_writes(self, f"db-crash-lagging-{self.profile}-{index}")
        cut = ReplicationCut(self.testbed, target)
        try:
            self.inject(cut)
            time.sleep(CUT_S)  # the cut's length is the experiment's parameter, not a measurement
            fault = DaemonKill(self.testbed, target, "mariadb", signal.SIGKILL)
            self.inject(fault)
            if self.fresh_testbed_per_trial(self.profile):
                self.keep(fault, "the crashed node is left down: the next trial starts on a fresh testbed")
            t0 = fault.injected_at
            self.wait_successes(probe, t0, 25, 30, "writes acknowledged again after the crash")
            # Only now: a killed process's unsent binlog stays in its host's socket buffers, and
            # the kernel would still deliver it if the path reopened at once (a host that dies
            # with its process would not).
            self.recover_now(cut, "the node is dead, writes flow again")
        finally:
            requests = probe.stop()
        found = db.detection(self, t0, target)
        log = db.write_log(requests, probe.label)
        acked = log.acked
        during = {i for i, t in acked.items() if cut.injected_at <= t <= t0}
        lost = db.losses(self, log, down={target})
        reads = db.read_your_writes(self, log)
        gap = db.ack_gap(requests, cut.injected_at)
        marks = [(cut.injected_at, "replication cut"), (t0, "mariadbd killed")]
        marks += [(found["switched_t"], "writes redirected")] if found["switched_t"] else []
        self.save_timeline(requests, t0, marks, f"{target} crashed after a 2 s replication cut ({self.site.db_mode})")
        return {"mode": self.site.db_mode, "writer": target, "acked_during_cut": len(during),
                "acked_writes": len(acked), **lost, "write_outage_ms": gap["gap_ms"],
                "detect_ms": db.ms_after(found["detected_t"], t0), "stale_reads": reads["stale_reads"],
                "failed_reads": reads["failed_reads"], "reads": reads}
