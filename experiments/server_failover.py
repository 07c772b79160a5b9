"""server_failover: crash server1, then server2 as well; how fast do the balancers notice, and
when does the backup server3 take over?

    client1 ─▶ VIP ─▶ HAProxy ─┬─ server1  ✗ (node crash)      detection: fault → HAProxy log
                               ├─ server2  ✗ (second crash)      "server1 is DOWN" on the VIP holder
                               └─ server3  backup: serves only when both are DOWN

Failed requests should be no more than those in flight at the crash (plus retries that hit the
dead server before detection; HAProxy's `retries` + `redispatch` absorb most of them).

With Galera (the default database mode) the second crash leaves server3's node alone, a minority
of the cluster: its /health fails and HAProxy marks the backup DOWN too. The trial records that
finding (backup_down_without_quorum) instead of waiting for a takeover that cannot come.

Two kinds of crash, side by side (tuned timers; the stock run crashes server1 only, by node;
in the main job, `--experiment all`, the process crash runs in the first trial only):
    processes:server1  every daemon killed, the kernel up: HAProxy's checks and the clients'
                       connections are refused at once (RST); recovered before the next phase
    node:server1       powered off (links down first): nothing answers, checks time out, and
                       a request already sent to it waits for the client's own timeout
The headline (detection_ms, failed_requests, outage_ms) is the node crash's; the process crash's
figures carry a process_ prefix; each states what HAProxy's failed checks met (detected_by).
"""

from __future__ import annotations

import time

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import NodeCrash, ProcessCrash
from runtime.observe import vip_holders
from runtime.wait import NotReadyError, wait_until


def first_down(haproxy, server: str, since: float) -> float | None:
    """When `haproxy`'s log first says "<server> is DOWN" at or after `since` (None: never)."""
    return next((c.time for c in haproxy.state_changes()
                 if c.server == server and c.state == "DOWN" and c.time >= since), None)


def detection_ms(haproxy, server: str, since: float) -> float | None:
    """From `haproxy`'s log: `since` (the crash) to its first "<server> is DOWN" after it, ms."""
    down = first_down(haproxy, server, since)
    return round((down - since) * 1000, 1) if down is not None else None


def decided_by_the_first(requests, first_down_t: float, second_t: float) -> list:
    """The requests whose fate the first crash alone decided, when a second crash follows:

        ──────┬──────────────┬──────────────────────┬──────────▶ send time
           crash 1     first marked DOWN          crash 2
        kept: sent before the first was marked DOWN (their failure may be the first crash's,
              however late it comes: a connect timeout ends ~1 s after the send), and every
              request done before the second crash
        left out: sent after the first was marked DOWN and still in flight at the second crash
              (failed, they are the second crash's: counted here they stretched the first's
              outage to the second, ~1 s later, in 1 to 3 trials of 3)"""
    return [r for r in requests if r.sent < second_t and (r.done < second_t or r.sent <= first_down_t)]


def detected_by(haproxy, server: str, since: float) -> list[str]:
    """What `haproxy`'s failed checks met between `since` (the crash) and its marking `server`
    DOWN, in its own words, each reason once ("Layer4 timeout": silence; "... Connection refused":
    a live kernel)."""
    down = first_down(haproxy, server, since)
    if down is None:
        return []
    return list(dict.fromkeys(f.reason for f in haproxy.check_failures()
                              if f.server == server and not f.agent and since <= f.time <= down))


class ServerFailover(Experiment):
    name = "server_failover"
    description = "crash server1, then server2; HAProxy detection time, failed requests, time until the backup serves"
    profiles = ("tuned", "stock")
    order = 40
    headline = ("detection_ms", "failed_requests", "outage_ms", "probe_spacing_ms", "process_detection_ms",
                "process_failed_requests", "backup_serving_ms", "backup_down_without_quorum")
    metrics = {**{key: "stats" for key in ("detection_ms", "second_detection_ms", "failed_requests",
                                           "in_flight_at_fault", "outage_ms", "failed_requests_second",
                                           "backup_serving_ms", "process_detection_ms", "process_failed_requests",
                                           "process_outage_ms", "recovery_ms", "probe_spacing_ms")},
               "backup_down_without_quorum": "any"}
    PROCESS_CRASH_PROFILES = ("tuned",)  # the side-by-side phase: a Galera rejoin (~4 s) per trial
    # The second crash (the backup's turn) with tuned timers only: what it shows (the backup
    # serves, or loses Galera's quorum) is the database's doing, not the balancers' timers, and
    # with stock timers it costs ~10 s a trial of the main command's 5 minutes.
    SECOND_CRASH_PROFILES = ("tuned",)

    def validate(self) -> None:
        super().validate()
        if len(self.site.active_servers) < 2 or not self.site.backup_servers:
            raise ExperimentError("server_failover: needs two active servers and a backup")

    def wait_galera_without(self, lost: str, seen_from: str | None = None) -> None:
        """Until the Galera view of `seen_from` (another database node) no longer counts `lost`."""
        seen_from = seen_from or next(s for s in self.site.db_nodes if s != lost)
        mariadb = self.testbed.services.find(seen_from, "mariadb")
        node = self.testbed.net[seen_from]
        wait_until(lambda: lost not in mariadb.galera_state(node)["members"], 15, f"the Galera view without {lost}")

    def second_crash(self, first: str, second: str, backup: str, haproxy, probe) -> tuple[NodeCrash, bool]:
        """Crash `second` too: the backup's turn. (the crash, whether the backup lost quorum)."""
        if self.site.db_mode == "galera" and {first, second} <= set(self.site.db_nodes):
            # Let the cluster settle on the survivors first ({second, backup}): its restart
            # then finds the last Primary component whole again and recovers by itself.
            self.wait_galera_without(first, seen_from=second)
        crash2 = NodeCrash(self.testbed, second, after_ready=False)
        self.inject(crash2)
        if self.site.db_mode == "galera":
            # The backup's Galera node is left alone with 1 of 3 votes: a minority, so its
            # /health fails once the cluster notices. Observe which happens, serving or not.
            # The cluster takes ~2 s to notice; the backup may serve meanwhile. Bounded wait.
            try:
                wait_until(lambda: haproxy.server_states().get(backup) == "DOWN", 10, f"{backup} marked DOWN")
                return crash2, True
            except NotReadyError:
                return crash2, False
        wait_until(lambda: any(r.served_by == backup and r.sent > crash2.injected_at for r in probe.requests()),
                   30, f"{backup} serving")
        self.wait_successes(probe, time.time(), 30, 20, f"requests served by {backup}")
        return crash2, False

    def process_crash(self, server: str, haproxy, index: int) -> dict:
        """processes:<server> under a probe, recovered before returning: detection, failed
        requests and outage, and what HAProxy's checks met."""
        probe = self.start_probe(self.site.clients[0], f"server-failover-processes-{self.profile}-{index}",
                                 interval=0.01, duration=60)
        try:
            crash = ProcessCrash(self.testbed, server)
            self.inject(crash)
            wait_until(lambda: haproxy.server_states().get(server) == "DOWN", 30, f"HAProxy marking {server} DOWN")
            self.wait_successes(probe, time.time(), 20, 30, f"requests served without {server}")
        finally:
            requests = probe.stop()
        outage = analysis.outage(requests, crash.injected_at)
        if self.site.db_mode == "galera" and server in self.site.db_nodes:
            # Restarted while the others still count its dead incarnation, a node waits out
            # their eviction timers before it may join (5 s more, measured): let them evict it.
            self.wait_galera_without(server)
        self.recover_now(crash, "the node crash that follows needs the server back")
        wait_until(lambda: haproxy.server_states().get(server) == "UP", 30, f"HAProxy marking {server} UP again")
        return {"process_detection_ms": detection_ms(haproxy, server, crash.injected_at),
                "process_detected_by": detected_by(haproxy, server, crash.injected_at),
                "process_failed_requests": outage["failed_requests"], "process_outage_ms": outage["outage_ms"],
                "process_errors": outage["errors"]}

    def run_trial(self, index: int) -> dict:
        first, second = self.site.active_servers[:2]
        [lb] = vip_holders(self.testbed)
        haproxy = self.testbed.services.find(lb, "haproxy")
        # The main job (`--experiment all`) crashes processes in its first trial only: by name,
        # every trial has both kinds.
        wanted = self.profile in self.PROCESS_CRASH_PROFILES and (index == 0 or not self.options.get("main_job"))
        processes = self.process_crash(first, haproxy, index) if wanted else {}
        both = self.profile in self.SECOND_CRASH_PROFILES
        backup = self.site.backup_servers[0]
        probe = self.start_probe(self.site.clients[0], f"server-failover-{self.profile}-{index}",
                                 interval=0.01, duration=90)
        crash2 = None
        try:
            # after_ready=False: a restarted replica resumes replication by itself (its replication
            # settings persist); re-pointing it would fail while the primary is still crashed.
            crash1 = NodeCrash(self.testbed, first, after_ready=False)
            self.inject(crash1)
            wait_until(lambda: haproxy.server_states().get(first) == "DOWN", 30, f"HAProxy marking {first} DOWN")
            self.wait_successes(probe, time.time(), 30, 20, f"requests served without {first}")
            if both:
                crash2, minority = self.second_crash(first, second, backup, haproxy, probe)
        finally:
            requests = probe.stop()
        detection = detection_ms(haproxy, first, crash1.injected_at)
        down_t = crash1.injected_at + (detection or 0.0) / 1000
        end = crash2.injected_at if crash2 else float("inf")  # no second crash: every request
        first_outage = analysis.outage(decided_by_the_first(requests, down_t, end), crash1.injected_at)
        marks = [(c.time, f"HAProxy {lb}: {c.server} {c.state}") for c in haproxy.state_changes()
                 if c.time >= crash1.injected_at - 0.5]
        second = {}
        if crash2 is not None:
            second_outage = analysis.outage(requests, crash2.injected_at)
            served_by_backup = [r.done for r in requests if r.served_by == backup and r.sent > crash2.injected_at]
            marks.append((crash2.injected_at, f"crash {crash2.host}"))
            second = {"second_detection_ms": detection_ms(haproxy, crash2.host, crash2.injected_at),
                      "failed_requests_second": second_outage["failed_requests"],
                      "backup_serving_ms": (round((served_by_backup[0] - crash2.injected_at) * 1000, 1)
                                            if served_by_backup else None),
                      # Galera: the finding that the passive backup cannot take over for both actives.
                      "backup_down_without_quorum": minority}
        self.save_timeline(requests, crash1.injected_at, marks,
                           f"crash {first}" + (f", then {crash2.host}" if crash2 else ""))
        # Both servers at once: two Galera nodes restart faster side by side (each waits for a
        # Primary component), and the trial's end is not a measurement.
        self.recover_together([crash1] + ([crash2] if crash2 else []))
        return {
            "crash": "node (links down first, then every daemon killed)",
            "detection_ms": detection,
            "detected_by": detected_by(haproxy, first, crash1.injected_at),
            "failed_requests": first_outage["failed_requests"],
            "in_flight_at_fault": first_outage.get("in_flight_at_fault"),
            "outage_ms": first_outage["outage_ms"], "recovery_ms": first_outage["recovery_ms"],
            "probe_spacing_ms": first_outage["probe_spacing_ms"],
            **second,
            **processes,
        }
