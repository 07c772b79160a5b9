"""db_partition: cut the writer (and nothing else) off from the other servers and the failover
manager's host while clients keep writing through the VIP; heal; look for divergence.

    client1 ──POST /write──▶ VIP ─▶ lb ─▶ apps          (the balancers still reach every server)
    partition: server1 | server2, server3, monitor     (the controller drops frames between them)
      galera    server1 is a minority: non-Primary, refuses writes, /health fails; the majority
                goes on. After healing it rejoins (IST) with nothing of its own: the next
                trial reuses the testbed, once its steady state holds again.
      semisync, async  the manager loses server1 and, once the replicas' IO threads time out too,
                promotes server2; server1 keeps accepting its own app's writes (semisync: after
                its acknowledgement timeout): two primaries. Nothing re-attaches server1.
    heal; then every acknowledged id is looked for on every node, and rows on one node and not
    on another are divergence.
"""

from __future__ import annotations

import time

from experiments import database as db
from experiments.base import Experiment
from topo.profiles import DB_MODES
from experiments.faults.partition import Partition

HOLD_S = 8.0  # longer than the replicas' heartbeat timeout (4 s) plus the manager's detection


class DbPartition(Experiment):
    name = "db_partition"
    description = "partition the writer from the other servers under writes; what each side accepts; divergence after healing"
    order = 62
    in_all = False  # a study of its own (3 modes x N trials, mostly fresh testbeds): run it by name
    profiles = DB_MODES
    headline = ("acked_writes_lost", "divergent_rows", "minority_acked")
    metrics = {"acked_writes_lost": "sum", "divergent_rows": "sum", "minority_acked": "sum",
               "majority_acked": "sum", "acked_writes": "sum", "stale_reads": "sum", "failed_reads": "sum",
               "write_outage_ms": "stats"}

    @classmethod
    def fresh_testbed_per_trial(cls, profile: str) -> bool:
        return profile != "galera"  # the replication modes are left with two primaries

    def run_trial(self, index: int) -> dict:
        site = self.site
        target = db.writer(self)
        majority = [s for s in site.servers if s != target] + list(site.monitors)
        probe = db.start_writes(self, f"db-partition-{self.profile}-{index}")
        try:
            fault = Partition(self.testbed, [target], majority)
            installed = self.inject(fault)["done_at"]  # the controller confirmed the drop flows
            t0 = fault.injected_at
            time.sleep(HOLD_S)  # the partition's length is the experiment's parameter
            self.recover_now(fault, "heal")
            healed = fault.recovered_at
            self.wait_successes(probe, healed, 25, 30, "writes acknowledged after healing")
        finally:
            requests = probe.stop()
        log = db.write_log(requests, probe.label)
        acked = log.acked
        # Writes SENT while the partition was in place and acknowledged before it healed (one in
        # flight at the cut was certified before it and says nothing about either side).
        during = [r for r in requests if r.ok and r.id and r.sent >= installed and r.done <= healed]
        minority = sum(1 for r in during if r.served_by == target)
        # Every node answers after healing, or the trial errs; its rows serve both checks.
        live = db.read_survivors(self, log)
        lost = db.losses(self, log, copies=live)
        # Divergence: rows (id, writer, payload) some node has and another lacks, after healing
        # and time to catch up (same id, different row counts: two primaries reuse ids).
        every = set().union(*live.values()) if live else set()
        divergent = {s: sorted(i for i, _w, _t in every - rows)[:20] for s, rows in live.items() if every - rows}
        reads = db.read_your_writes(self, log)
        found = db.detection(self, t0, target)
        gap = db.ack_gap(requests, t0)
        self.save_timeline(requests, t0, [(healed, "healed")] + ([(found["switched_t"], "writes redirected")]
                                                                 if found["switched_t"] else []),
                           f"{target} partitioned from {', '.join(majority)} ({site.db_mode})")
        return {"mode": site.db_mode, "writer": target, "minority_acked": minority,
                "majority_acked": len(during) - minority, "acked_writes": len(acked),
                **lost,
                "divergent_rows": max((len(every - rows) for rows in live.values()), default=0),
                "missing_on": divergent, "new_primary": found.get("new_primary"),
                "write_outage_ms": gap["gap_ms"], "stale_reads": reads["stale_reads"],
                "failed_reads": reads["failed_reads"], "reads": reads}
