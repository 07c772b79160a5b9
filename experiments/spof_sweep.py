"""spof_sweep: inject every catalogued fault once, probe every service, and put the observation
beside the static SPOF analysis's prediction (spof/). Run by name, not in `all` (it is long).

    sudo python3 topo/run.py --experiment spof_sweep [--faults ADDR,...]

    plan: every node (hosts and switches), every link (host links too), every daemon process,
          the controller; then at most MAX_PAIRS pairs from the static size-2 cut sets (a seeded
          choice when there are more); --faults keeps only those addresses (and pairs of them)

    one trial per fault (or pair):
      steady state, VRRP settled ─▶ inject ─▶ hold HOLD_S, probes running ─▶ observe ─▶ recover() ─▶ back?
                                                                      (a pair: both at once)
                               web    GET /       from every client     every 0.05 s
                               read   GET /read   from every client     every 0.1 s
                               write  POST /write from every client     every 0.1 s
                               monitoring  each replica's Prometheus (`up`, alerts, rules) and its
                                           Alertmanager, asked at the hold's end and again until
                                           one works, up to the alert deadline (2 scrapes + 1 s)
                               recovery    at the hold's end, an instance says it is MASTER and a
                                           barrier from it comes back from every switch not crashed

A service is observed DOWN (the fault is an observed SPOF for it) when, for some client whose own
host and access link are not the fault, no request sent in the last LAST_S seconds of the hold
succeeded: nothing failed it over. It is PARTIAL when it is up but some client had fewer than
PARTIAL_BELOW of those requests served (a finding beside the SPOFs, not a disagreement).
Monitoring is down when no replica can tell and tell someone: for every replica, a host it
scrapes is neither up nor named by an alert (missed), its alert rules are not being evaluated, it
is cut off from every host it scrapes, or no Alertmanager it sends to answers with a live receiver. Per
fault and service the trial records the outage (from the probes' timestamps), whether it came
back by itself within the hold, and whether it needed the fault's recover() (and how long after
it). Probes run for the whole sweep; each trial reads its
own time window. A prediction and an observation that differ are a disagreement: its timeline
(plot, CSV) and the daemon events around it are kept as evidence. The runner rebuilds the testbed
only after a trial whose recovery did not bring the steady state back.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import catalogue, parse
from experiments.probes import HttpsProbe
from hosts.prometheus import SCRAPE_TIMEOUT_S
from spof.analysis import analyze
from spof.model import Design
from runtime.observe import answering, vip_holders
from runtime.wait import NotReadyError, wait_until

# Each fault is held HOLD_S and judged on its last LAST_S: a failover has the first 2 s (the
# design's target for the worst single fault, a Galera view change: ~1.2-1.7 s measured), and the
# judged second holds 10-20 requests per client and service. Monitoring has its own deadline
# (ALERT_INTERVALS below).
HOLD_S = 3.0
LAST_S = 1.0
# Up, but a client was served fewer than 9 in 10 of its requests in the judged window: a partial outage
# (e.g. a split brain, the VIP's ARP entry flipping between two MASTERs). Not a SPOF by the
# definition (something still serves), reported beside the SPOFs as a finding about the design.
PARTIAL_BELOW = 0.9
# Before a fault, no VRRP change for this long (15 adverts at 20 ms): a balancer leaving FAULT
# (its track script, once a second, sees its servers UP again) may claim the VIP for a moment;
# once, a fault met that moment and lb2 held the VIP through it, against the model's start.
SETTLED_S = 0.3
# ...and no port or link change in the fabric for this long. A fault 0.9 s after client2's access
# switch came back doubled its outage (web 1.1 s, writes 2.1 s where 0.1 s and 1.1 s are usual):
# its path to the VIP was being re-learned when the VIP moved. A single fault is tried from a
# settled network, not from the tail of the last recovery.
FABRIC_SETTLED_S = 1.0
# Monitoring is asked again, until some replica works, up to this many scrape intervals (plus
# a scrape's timeout) after the fault: an alert is pending one scrape, its timeout and one rule
# evaluation after the fault, 2 × 2 s + 1 s at worst with the default site's 2 s scrapes.
ALERT_INTERVALS = 2
BACK_TIMEOUT = 20.0  # after recover(): how long a service may take to come back
REACH_TIMEOUT_S = 2.0  # the MASTER's barriers to every switch: back in ms when it is in charge
MAX_PAIRS = 20
CONTROL_PAIRS = 5  # pairs predicted harmless, tried to catch a model that calls too much "up"
CLIENT_SERVICES = {"web": ("GET", "/", 0.05), "read": ("GET", "/read", 0.1), "write": ("POST", "/write", 0.1)}
SWEPT = ("node:", "daemon:", "link:", "machine:", "controller")


class InconclusiveError(ExperimentError):
    """A window with too few requests to judge: a probe that died or stalled saw nothing, and
    nothing seen is never "up"."""


def judge_window(requests, fault_t: float, hold_end: float, recover_t: float, interval: float) -> dict:
    """One client's requests for one service, judged on the hold's last LAST_S seconds: down when
    none sent then succeeded before recovery began (a SYN held back by a dead link completes once
    the link is back: that success belongs to the recovery, not the hold); partial when some did,
    but fewer than PARTIAL_BELOW of them. Fewer than half the requests the probe's `interval`
    schedules in the window: InconclusiveError."""
    requests = [r for r in requests if r.sent >= fault_t - 1.0]
    held = [r for r in requests if r.sent < hold_end]
    last = [r for r in held if r.sent >= hold_end - LAST_S]
    expected = LAST_S / interval
    if len(last) < expected / 2:
        raise InconclusiveError(f"{len(last)} requests in the judged {LAST_S:g} s where the probe schedules "
                                f"{expected:.0f}: nothing to judge")
    served = [r for r in last if r.ok and r.done <= recover_t]
    down = not served
    result = analysis.outage([r for r in held if r.done <= recover_t or not r.ok], fault_t)
    return {"down_at_end": down, "partial": not down and len(served) < PARTIAL_BELOW * len(last),
            "outage_ms": result["outage_ms"], "failed": result["failed_requests"],
            "requests_judged": len(last), "ok_judged": len(served)}


def comes_true(check, timeout: float, what: str) -> bool:
    """Whether `check` holds within `timeout` (polled every 0.1 s): a precondition the trial
    records and goes ahead without, rather than fails on."""
    try:
        wait_until(check, timeout, what, interval=0.1)
        return True
    except NotReadyError:
        return False


def why_down(seen: dict) -> str:
    """The observation behind a "down", in a few words: whom it failed, or what monitoring missed."""
    parts = [", ".join(seen.get("down_for") or seen.get("blind") or [])]
    parts += [f"no alert for {h}" for h in seen.get("crashed_without_alert") or []]
    parts += (seen.get("rule_problems") or [])[:1]
    parts.append(seen.get("why") or "")  # recovery says why in its own words
    return "; ".join(p for p in parts if p)


def plan_for(topology, faults: tuple[str, ...] | None, seed: int) -> tuple[tuple[str, ...], ...]:
    """The fault sets to inject: singles first, then pairs from the static cut sets, then (on a
    full sweep) CONTROL_PAIRS pairs the model calls harmless, a seeded choice: a pair is tried
    only when the model foresees something of it, so without controls a false "up" could never
    be found. --faults keeps the listed singles and the cut-set pairs among them, no controls."""
    singles = [e.address for e in catalogue(topology) if e.address.startswith(SWEPT)]
    if faults:
        singles = [a for a in faults if a in set(singles)]
    chosen = set(singles)
    cut_pairs = {tuple(sorted(c.components)) for c in analyze(topology).cut_sets}
    pairs = sorted(p for p in cut_pairs if set(p) <= chosen)
    rng = random.Random(seed)
    if len(pairs) > MAX_PAIRS:
        pairs = sorted(rng.sample(pairs, MAX_PAIRS))
    controls = [] if faults else control_pairs(topology, singles, cut_pairs, rng)
    return tuple((a,) for a in singles) + tuple(pairs) + tuple(controls)


def foreseen_harmless(design: Design, faults) -> bool:
    """The model's word on `faults`: every service up, none partial."""
    return all(o.up and not o.partial for o in design.evaluate(set(faults)).values())


def control_pairs(topology, singles: list[str], cut_pairs: set, rng: random.Random) -> list[tuple[str, str]]:
    """CONTROL_PAIRS pairs of single faults, neither a SPOF alone, that the model predicts leave
    every service up: the sweep's check on the model's "harmless"."""
    design = Design(topology)
    harmless = [a for a in singles if foreseen_harmless(design, {a})]
    candidates = [(a, b) for i, a in enumerate(harmless) for b in harmless[i + 1:] if (a, b) not in cut_pairs]
    picked = []
    for a, b in rng.sample(candidates, len(candidates)):
        if foreseen_harmless(design, {a, b}):
            picked.append((a, b))
            if len(picked) == CONTROL_PAIRS:
                break
    return sorted(picked)


class SpofSweep(Experiment):
    name = "spof_sweep"
    description = (f"every node, link, daemon and the controller failed in turn (held {HOLD_S:g} s) and the size-2 cut sets; "
                   "every service probed; observations beside the static SPOF analysis")
    order = 900
    in_all = False
    accepts = ("faults",)
    # SPOFs counted as components (a single fault address down for some service), singles and
    # pairs apart; partial outages judged against the prediction on their own count.
    headline = ("faults_injected", "single_faults", "pair_faults", "control_pairs", "spof_components_observed",
                "spof_components_predicted", "disagreements", "pair_disagreements", "partial_disagreements",
                "partial_outages")

    @classmethod
    def trial_count(cls, trials: int, topology, options: dict) -> int:
        return len(plan_for(topology, tuple(options.get("faults") or ()) or None, options.get("seed", 1)))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        topology = self.testbed.topology
        self.plan = plan_for(topology, tuple(self.options.get("faults") or ()) or None, self.options.get("seed", 1))
        self.design = Design(topology)
        self.probes: dict[tuple[str, str], HttpsProbe] = {}
        self.recovered_t = 0.0  # when the last trial's recover() ended

    def validate(self) -> None:
        super().validate()
        if not self.site.clients:
            raise ExperimentError("spof_sweep: needs a client to probe from")

    # -- probes for the whole sweep --------------------------------------------------------------
    def ensure_probes(self) -> None:
        bound = len(self.plan) * 40 + 120  # seconds: bounded, and longer than any sweep
        for client in self.site.clients:
            for service, (method, path, interval) in CLIENT_SERVICES.items():
                probe = self.probes.get((client, service))
                if probe is not None and probe.running():
                    continue
                label = f"sweep-{service}-{client}-{self.trial}-{int(time.time() * 1000) % 100000}"
                self.probes[(client, service)] = HttpsProbe(self.testbed, client, method=method, path=path,
                                                            interval=interval, duration=bound, label=label).start()

    def run(self, trials: int, first: int = 0, of: int | None = None) -> dict:
        try:
            return super().run(trials, first, of)
        finally:
            for probe in self.probes.values():
                probe.stop()

    # -- one fault --------------------------------------------------------------------------------
    def run_trial(self, index: int) -> dict:
        addresses = self.plan[index]
        self.ensure_probes()
        began = time.time()
        # Each wait is a journal step: the sweep's wall time is mostly these, not the holds.
        with ThreadPoolExecutor(1) as pool:  # monitoring's wait (Prometheus's discovery) beside the rest
            scraped = pool.submit(self.in_step, f"trial {index}: every target scraped", self.wait_monitoring_complete)
            with self.journal.step(f"trial {index}: probes succeeding"):
                # Successes in the last second count, if sent after the last recovery: the
                # previous trial's wait for every probe back usually supplies them.
                self.wait_successes_all(max(began - 1.0, self.recovered_t), "every probe succeeding before the fault")
            with self.journal.step(f"trial {index}: every server UP"):
                servers_up_before = self.wait_servers_up()
            moved, settled = self.start_from_initial_holder(index)
            with self.journal.step(f"trial {index}: fabric settled"):
                fabric_settled = self.wait_fabric_settled()
            monitoring_before = scraped.result()
        holders = vip_holders(self.testbed)  # the model starts from the VIP where it is now
        faults = [parse(address, self.testbed, rng=self.rng) for address in addresses]
        for fault in faults:
            self.inject(fault)
        fault_t = min(f.injected_at for f in faults)
        hold_end = fault_t + HOLD_S
        time.sleep(max(0.0, hold_end - time.time()))  # the hold itself; every figure comes from probes
        with self.journal.step(f"trial {index}: observe monitoring and recovery"), ThreadPoolExecutor(2) as pool:
            asked = pool.submit(self.observe_monitoring_until, addresses, fault_t), pool.submit(self.observe_recovery, addresses)
            monitoring, recovery = (future.result() for future in asked)
        observed_end = time.time()
        if len(faults) == 1:
            self.recover_now(faults[0])
        else:  # a pair: two Galera nodes of a lost quorum come back only together
            self.recover_together(faults)
        self.recovered_t = recovered_t = time.time()
        with self.journal.step(f"trial {index}: every probe back"):
            back = self.wait_back(recovered_t)
        with self.journal.step(f"trial {index}: every request of the hold written"):
            self.wait_hold_written(fault_t, hold_end)
        predicted = self.design.evaluate(set(addresses), holder=holders[0] if len(holders) == 1 else None)
        services = {}
        for service in CLIENT_SERVICES:
            services[service] = self.client_service(service, addresses, fault_t, hold_end, observed_end, back)
        services["monitoring"] = monitoring
        services["recovery"] = recovery
        disagreements = []
        for service, seen in services.items():
            if service not in predicted:
                continue
            seen["predicted_down"] = not predicted[service].up
            seen["predicted_why"] = predicted[service].why
            seen["predicted_partial"] = predicted[service].partial
            if seen["predicted_down"] != seen["down"]:
                disagreements.append(service)
        partial = [s for s, v in services.items() if v.get("partial_for")]
        evidence = (self.keep_evidence(addresses, fault_t, observed_end, disagreements + partial)
                    if disagreements or partial else None)
        return {"faults": list(addresses), "fault_t": fault_t, "hold_s": HOLD_S, "evidence": evidence,
                "vip_holder_before": holders, "vip_moved_back_before": moved, "vrrp_settled_before": settled,
                "fabric_settled_before": fabric_settled,
                "monitoring_complete_before": monitoring_before, "servers_up_before": servers_up_before,
                "observed_down": sorted(s for s, v in services.items() if v["down"]),
                "observed_partial": sorted(partial),
                "predicted_down": sorted(s for s, v in predicted.items() if not v.up),
                "disagreements": disagreements, "services": services}

    def in_step(self, name: str, wait):
        """wait() as a journal step of its own (run in a thread beside other steps)."""
        with self.journal.step(name):
            return wait()

    def start_from_initial_holder(self, index: int) -> tuple[str | None, bool]:
        """The VIP on the balancer VRRP elects first, and VRRP settled there (a hand-back may
        itself unsettle it: tried up to three times). (what was moved, settled)."""
        moved, settled = None, False
        for _ in range(3):
            moved = self.restore_initial_holder() or moved
            with self.journal.step(f"trial {index}: VRRP settled") as step:
                settled = self.wait_vrrp_settled()
                step.detail = {"settled": settled, "holders": vip_holders(self.testbed)}
            if settled:
                break
        return moved, settled

    def wait_vrrp_settled(self, timeout: float = 10.0) -> bool:
        """One VIP holder, every balancer MASTER or BACKUP (not FAULT), and no VRRP change for
        SETTLED_S. False if not within `timeout` (recorded; the fault goes ahead)."""
        daemons = [self.testbed.services.find(lb, "keepalived") for lb in self.site.lbs]
        if not daemons:
            return True

        def settled() -> bool:
            events = self.vrrp_events(time.time() - SETTLED_S)
            return (not events and all(d.state() in ("MASTER", "BACKUP") for d in daemons)
                    and len(vip_holders(self.testbed)) == 1)

        return comes_true(settled, timeout, "VRRP settled")

    def wait_fabric_settled(self, timeout: float = 10.0) -> bool:
        """No port or link change in the controller's journal for FABRIC_SETTLED_S. False if not
        within `timeout` (recorded; the fault goes ahead)."""
        controller = self.testbed.controller
        if controller is None:
            return True
        changes = ("port_status", "link_up", "link_down")

        def quiet() -> bool:
            last = max((e.get("t", 0) for e in controller.events() if e["event"] in changes), default=0.0)
            return time.time() - last >= FABRIC_SETTLED_S

        return comes_true(quiet, timeout, "the fabric settled")

    def restore_initial_holder(self) -> str | None:
        """Start every fault from the state the static analysis assumes: the VIP on the balancer VRRP
        elects first. With nopreempt a failover leaves it on the other one; a graceful keepalived
        restart there (SIGTERM: a priority-0 advert, the VIP released) hands it back."""
        initial, holders = self.design.holder, vip_holders(self.testbed)
        if not initial or holders == [initial]:
            return None
        manager, net = self.testbed.services, self.testbed.net
        with self.journal.step(f"put the VIP back on {initial}, where the static analysis starts") as step:
            for lb in holders:
                keepalived = manager.find(lb, "keepalived")
                manager.stop_daemon(keepalived)
                wait_until(lambda: vip_holders(self.testbed) == [initial], 15, f"{initial} taking the VIP")
                done, errors = manager.restart([keepalived], net)
                if errors:
                    raise ExperimentError(f"spof_sweep: restarting keepalived on {lb}: {'; '.join(errors)}")
            step.detail = {"from": holders, "to": initial}
        return f"{','.join(holders)} → {initial}"

    def wait_servers_up(self) -> bool:
        """Before a fault: every balancer's HAProxy sees every server UP, the state the static
        analysis starts from. Probes succeed sooner: a server whose Galera node is still rejoining
        after the previous fault is not UP yet, and a fault then met two servers short (seen)."""
        return comes_true(lambda: not self.servers_not_up(self.site.servers), 30, "every server UP on every balancer")

    def wait_successes_all(self, after: float, what: str) -> None:
        for (client, service), probe in self.probes.items():
            self.wait_successes(probe, after, 2, 15, f"{what} ({service} from {client})")

    def requests(self, client: str, service: str) -> list:
        return self.probes[(client, service)].requests()

    def excused(self, client: str, addresses) -> bool:
        """A client's own access is not held against the design for it: its host, or every leg it
        has on the VIP network lost (its access link or access switch), as the model excuses it."""
        failed = self.testbed.topology.layout.failed_nodes(addresses)
        if client in failed:
            return True
        legs = [i for i in self.site.plan.host_interfaces(client) if i.network == self.site.vip_network]
        return all(f"link:{client}-{i.switch}" in addresses or i.switch in failed for i in legs)

    def client_service(self, service: str, addresses, fault_t: float, hold_end: float, recover_t: float,
                       back: dict) -> dict:
        """Every client not excused, judged by judge_window; down (or partial) for the service when
        down (or partial) for some client."""
        per_client, down_clients, partial_clients, worst = {}, [], [], None
        for client in self.site.clients:
            if self.excused(client, addresses):
                per_client[client] = {"excused": True}
                continue
            judged = judge_window(self.requests(client, service), fault_t, hold_end, recover_t,
                                  CLIENT_SERVICES[service][2])
            per_client[client] = {**judged, "back_after_recover_ms": back.get((client, service))}
            if judged["down_at_end"]:
                down_clients.append(client)
            elif judged["partial"]:
                partial_clients.append(f"{client} {judged['ok_judged']}/{judged['requests_judged']}")
            if worst is None or judged["outage_ms"] > worst:
                worst = judged["outage_ms"]
        if all(v.get("excused") for v in per_client.values()):
            # Every client was on the failed part: nobody is left to see the site, and an
            # unwitnessed service is not "up" (the model cannot judge it either).
            raise InconclusiveError(f"no client is left to judge {service}: every client lost its own access "
                                    f"to {', '.join(addresses)}")
        down = bool(down_clients)
        failed_during = any(v.get("failed") for v in per_client.values())
        return {"down": down, "down_for": down_clients, "partial_for": [] if down else partial_clients,
                "outage_ms": worst,
                "recovered_by_itself": failed_during and not down,
                "needed_recovery": down and all(per_client[c].get("back_after_recover_ms") is not None
                                                for c in down_clients),
                "clients": per_client}

    def wait_hold_written(self, fault_t: float, hold_end: float) -> None:
        """Every request sent from a second before the fault to the hold's end has its row (a row
        is written when its request completes: at most the probe's timeout after it was sent).
        Rows still missing after that timeout and a second more: InconclusiveError."""
        def written(probe) -> bool:
            rows = probe.requests()
            after = [r.seq for r in rows if r.sent >= hold_end]
            if not after:
                return False  # the probe has not completed a request sent after the hold yet
            first_after, have = min(after), {r.seq for r in rows}
            horizon = min((r.seq for r in rows if r.sent >= fault_t - 1.0), default=first_after)
            return all(seq in have for seq in range(horizon, first_after))

        timeout = max(0.5, hold_end + max(p.timeout for p in self.probes.values()) + 1.0 - time.time())
        try:
            wait_until(lambda: all(written(p) for p in self.probes.values()), timeout,
                       "every request of the hold written", interval=0.1)
        except NotReadyError:
            missing = [p.label for p in self.probes.values() if not written(p)]
            raise InconclusiveError(f"requests of the hold still unwritten after their timeout: "
                                    f"{', '.join(missing)}") from None

    def wait_back(self, since: float) -> dict:
        """(client, service) → ms from recover() to its first success (None if not within BACK_TIMEOUT)."""
        back: dict = {}

        def all_back() -> bool:
            for key, probe in self.probes.items():
                if back.get(key) is None:
                    ok = [r.sent for r in probe.requests() if r.ok and r.sent >= since]
                    if ok:
                        back[key] = round((ok[0] - since) * 1000, 1)
            return all(back.get(k) is not None for k in self.probes)

        try:
            wait_until(all_back, BACK_TIMEOUT, "every service back after recovery", interval=0.1)
        except NotReadyError:
            pass  # recorded as None: the steady-state check that follows decides about a rebuild
        return back

    def wait_monitoring_complete(self) -> bool:
        """Before a fault: every replica's Prometheus targets scraped and up (a restarted Prometheus
        or a host back from a crash takes a few seconds), so the hold's observation is the fault's alone."""
        if not self.site.monitors:
            return False
        try:
            for monitor in self.site.monitors:
                self.testbed.services.find(monitor, "prometheus").wait_targets_up(self.testbed.net[monitor], timeout=20)
            return True
        except Exception:
            return False

    def observe_monitoring_until(self, addresses, fault_t: float) -> dict:
        """observe_monitoring at the hold's end, and again until some replica works or the alert
        deadline (ALERT_INTERVALS scrapes and a timeout after the fault) has passed: the hold
        judges the client services, the deadline how soon monitoring must tell."""
        interval = self.scrape_interval_s()
        deadline = fault_t + ALERT_INTERVALS * interval + SCRAPE_TIMEOUT_S
        asks = 0
        while True:
            asked_at = time.time()
            result = self.observe_monitoring(addresses)
            asks += 1
            if not result["down"] or time.time() >= deadline:
                break
            time.sleep(min(0.25, max(0.0, deadline - time.time())))
        return {**result, "asked_after_s": round(asked_at - fault_t, 2), "asks": asks,
                "deadline_after_s": round(deadline - fault_t, 2)}

    def scrape_interval_s(self) -> float:
        """The monitors' scrape interval (the same on every replica), or 1 s with none."""
        if not self.site.monitors:
            return 1.0
        return self.testbed.services.find(self.site.monitors[0], "prometheus").scrape_interval_s()

    def observe_monitoring(self, addresses) -> dict:
        """Each replica's own view at the hold's end; monitoring is up when some replica works."""
        if not self.site.monitors:
            return {"down": True, "error": "no monitor", "replicas": {}}
        failed_hosts = self.testbed.topology.layout.failed_nodes(addresses)
        # Asked at once: a replica cut off costs its timeouts once, not once per replica.
        with ThreadPoolExecutor(max_workers=len(self.site.monitors)) as pool:
            seen = pool.map(lambda m: self.observe_replica(m, failed_hosts), self.site.monitors)
        replicas = dict(zip(self.site.monitors, seen))
        working = [m for m, seen in replicas.items() if seen["works"]]
        result = {"down": not working, "working_replicas": working, "replicas": replicas}
        if not working:  # what the best-informed replica missed, for the table
            worst = next(iter(replicas.values()))
            result.update({k: worst.get(k) for k in ("blind", "crashed_without_alert", "rule_problems", "error")})
        return result

    def observe_replica(self, monitor: str, failed_hosts: set) -> dict:
        """One replica works when its Prometheus answers, its rules are evaluated, it still scrapes
        some host besides its own (cut off, it alerts on everything: false alarms), every host it
        scrapes is up, or named by an alert (pending or firing) and out of the site (the failure is
        seen, not missed), and an Alertmanager it sends to answers it, with a live receiver."""
        seen = {"works": False, "blind": [], "crashed_without_alert": [], "rule_problems": [], "error": None}
        if monitor in failed_hosts:
            return {**seen, "error": f"{monitor} crashed"}
        node, prometheus = self.testbed.net[monitor], self.testbed.services.find(monitor, "prometheus")
        scraped = set(self.design.facts.scrape.get(monitor, {}))
        with ThreadPoolExecutor(4) as pool:  # four questions, each a curl in the replica's host
            asked = (pool.submit(prometheus.query, node, "up"), pool.submit(prometheus.rule_problems, node, time.time()),
                     pool.submit(prometheus.alerts, node), pool.submit(self.delivery_path, monitor, node))
        try:
            series, problems, alerts = (future.result() for future in asked[:3])
        except Exception as exc:  # nothing answered: that is the observation
            return {**seen, "error": f"{type(exc).__name__}: {exc}"[:300]}
        named = {a["labels"].get("instance") for a in alerts}
        up = {item["metric"].get("instance") for item in series if item["value"][1] == "1"}
        cut_off = bool(scraped - {monitor}) and not (up & (scraped - {monitor}))
        # Not scraped and not crashed: seen (an alert names it) if the fault cut it out of the site;
        # missed if it is still part of it (a balancer or server gets its ping) or nothing names it.
        unseen = sorted(scraped - failed_hosts - up)
        named_unseen = [h for h in unseen if h in named]
        with ThreadPoolExecutor(max_workers=max(1, len(named_unseen))) as pool:
            still_in_site = dict(zip(named_unseen, pool.map(lambda h: self.in_site(h, failed_hosts), named_unseen)))
        blind = [h for h in unseen if h not in named or still_in_site[h]]
        unalerted = sorted(h for h in failed_hosts & scraped if h not in named)
        delivery = asked[3].result()
        works = not (cut_off or blind or unalerted or problems) and delivery["ok"]
        return {**seen, "works": works, "cut_off": cut_off, "blind": blind, "crashed_without_alert": unalerted,
                "rule_problems": problems, "delivery": delivery}

    def in_site(self, host: str, failed_hosts: set) -> bool:
        """Some other live balancer or server gets a reply from `host` on the service network."""
        witnesses = [h for h in self.site.lbs + self.site.servers if h != host and h not in failed_hosts]
        return bool(answering(self.testbed, witnesses, self.site.backend_ip(host)))

    def delivery_path(self, monitor: str, node) -> dict:
        """Some Alertmanager this replica sends to answers it (/-/ready, asked from the replica's
        host) and the receiver it delivers to is alive (asked on that receiver's host)."""
        managers = self.design.facts.alerting.get(monitor)
        if managers is None:
            return {"ok": True, "alertmanagers": "none configured"}

        def ask(manager: str) -> str:
            try:
                alertmanager = self.testbed.services.find(manager, "alertmanager")
                ready = alertmanager.answers(node)
                receivers = self.design.facts.receivers.get(manager, ())
                alive = [f"{d}@{h}" for h, d in receivers
                         if self.testbed.services.find(h, d).is_ready(self.testbed.net[h])]
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"[:200]
            return "ok" if ready and alive else "no receiver alive" if ready else "not answering"

        with ThreadPoolExecutor(max_workers=max(1, len(managers))) as pool:
            answered = dict(zip(managers, pool.map(ask, managers)))
        return {"ok": "ok" in answered.values(), "alertmanagers": answered}

    def observe_recovery(self, addresses) -> dict:
        """Can the fabric still reroute? Asked after the fault: some instance says it is MASTER,
        and a barrier it sends now comes back from every switch the fault left alive. A crashed
        switch is left out: its bridge lives on in ovs-vswitchd and answers over loopback, which
        proves nothing. A standby's journal lists every switch from its start, and a process
        that runs may not be in charge: neither counts."""
        controller = self.testbed.controller
        switches = self.testbed.topology.switches
        crashed = sorted(self.testbed.topology.layout.failed_nodes(addresses) & set(switches))
        required = [s for s in switches if s not in crashed]
        alive = controller is not None and controller.alive()
        master = controller.master() if alive else None
        answer = master.reach(REACH_TIMEOUT_S) if master is not None else None
        answered = sorted(set(answer["answered"]) & set(required)) if answer else []
        silent = [s for s in required if s not in answered]
        why = ("no controller runs" if not alive else "no instance says it is MASTER" if master is None
               else f"{master.name} did not answer within {REACH_TIMEOUT_S:g} s" if answer is None
               else f"no barrier back from {', '.join(silent)}" if silent else "")
        return {"down": bool(why), "why": why, "controller_alive": alive,
                "master": master.name if master is not None else None,
                "switches_answered": answered, "switches_silent": silent, "crashed_left_out": crashed,
                "reach_ms": (round((answer["t_answered"] - answer["t_request"]) * 1000, 1)
                             if answer and "t_answered" in answer else None)}

    def keep_evidence(self, addresses, fault_t: float, end: float, disagreements: list[str]) -> dict:
        """Timeline of the first client service concerned (or web) and the daemon events around it."""
        service = next((s for s in disagreements if s in CLIENT_SERVICES), "web")
        client = next((c for c in self.site.clients if not self.excused(c, addresses)), self.site.clients[0])
        requests = [r for r in self.requests(client, service) if fault_t - 2 <= r.sent <= end + 3]
        events = [(e["t"], f"{e['host']} {e['state']}") for e in self.vrrp_events(fault_t - 1) if e["t"] <= end + 3]
        for lb in self.site.lbs:
            events += [(c.time, f"{lb}: {c.server} {c.state}")
                       for c in self.testbed.services.find(lb, "haproxy").state_changes() if fault_t - 1 <= c.time <= end + 3]
        events += [(e["t"], f"controller: {e['event']}") for e in self.testbed.controller.events()
                   if fault_t - 1 <= e.get("t", 0) <= end + 3 and e["event"] in ("port_status", "flows_installed")][:6]
        part = "+".join(a.replace(":", "_").replace("@", "_") for a in addresses)
        self.save_timeline(requests, fault_t, events, f"{' + '.join(addresses)}: {service} from {client}", part=part)
        return {"client": client, "service": service, "timeline": self.trial_file("timeline", "png", part).name,
                "events": [{"t_ms": round((t - fault_t) * 1000, 1), "what": w} for t, w in sorted(events)]}

    def summarize(self, trials: list[dict]) -> dict:
        """Counts and the disagreement list; also writes sweep.md beside the summary: prediction and
        observation side by side for every fault and service."""
        self.write_sweep_md(trials)
        observed = sorted({(tuple(t["faults"]), s) for t in trials for s in t["observed_down"]})
        predicted = sorted({(tuple(t["faults"]), s) for t in trials for s in t["predicted_down"]})
        disagreements = [{"faults": t["faults"], "service": s,
                          "predicted_down": t["services"][s]["predicted_down"],
                          "observed_down": t["services"][s]["down"],
                          "predicted_why": t["services"][s].get("predicted_why", ""),
                          "observed": {k: v for k, v in t["services"][s].items()
                                       if k in ("down_for", "outage_ms", "blind", "crashed_without_alert", "rule_problems",
                                                "error", "controller_alive", "why", "master",
                                                "switches_silent")},
                          "reading": ("the model expected an outage the testbed did not show: a mechanism the "
                                      "model does not know covered it, or the model is wrong"
                                      if t["services"][s]["predicted_down"] else
                                      "the testbed failed where the model expected a failover: a hidden "
                                      "dependency of the design, or a gap in the model")}
                         for t in trials for s in t["disagreements"]]
        partial = [{"faults": t["faults"], "service": s, "clients": t["services"][s]["partial_for"],
                    "predicted": ("partial: " + t["services"][s]["predicted_partial"]
                                  if t["services"][s].get("predicted_partial") else
                                  "down" if t["services"][s].get("predicted_down") else "up, fully")}
                   for t in trials for s in t.get("observed_partial", [])]
        foreseen = [{"faults": t["faults"], "service": s} for t in trials for s, v in t["services"].items()
                    if v.get("predicted_partial") and s not in t.get("observed_partial", [])]
        # Partial against partial: seen where the model said fully up, or foreseen and not seen.
        # (Seen partial where the model said down is a disagreement already: down against up.)
        partial_disagreements = [p for p in partial if p["predicted"] == "up, fully"] + foreseen
        singles = [t for t in trials if len(t["faults"]) == 1]
        pairs = [t for t in trials if len(t["faults"]) > 1]
        controls = {tuple(c) for c in self.plan if len(c) > 1 and foreseen_harmless(self.design, c)}

        def components(key: str) -> list[str]:
            return sorted({t["faults"][0] for t in singles if t[key]})

        return {"faults_injected": len(trials), "single_faults": len(singles), "pair_faults": len(pairs),
                "control_pairs": sum(1 for t in pairs if tuple(t["faults"]) in controls),
                "spof_components_observed": len(components("observed_down")),
                "spof_components_predicted": len(components("predicted_down")),
                "spof_component_list": components("observed_down"),
                "observed_spof_rows": len(observed), "predicted_spof_rows": len(predicted),
                "disagreements": len(disagreements),
                "pair_disagreements": sum(1 for d in disagreements if len(d["faults"]) > 1),
                "disagreement_list": disagreements,
                "partial_disagreements": len(partial_disagreements), "partial_disagreement_list": partial_disagreements,
                "partial_outages": len(partial), "partial_outage_list": partial,
                "partial_predicted_not_seen": foreseen,
                "observed": [{"faults": list(f), "service": s} for f, s in observed]}

    def write_sweep_md(self, trials: list[dict]) -> None:
        lines = ["# SPOF sweep: prediction beside observation", "",
                 f"Each fault held {HOLD_S:g} s; a service is observed down when no request sent in the last "
                 f"{LAST_S:g} s of the hold succeeded (for some client not itself failed); **partial** when a client "
                 f"had fewer than {PARTIAL_BELOW:.0%} of them served. Predicted by spof/ from the model alone. "
                 "**DISAGREES** and **partial** rows are findings (their timelines are beside this file).",
                 "", "| fault | service | predicted | observed | outage ms | back by itself | back after recover() | |",
                 "|---|---|---|---|---|---|---|---|"]
        for t in trials:
            for service, seen in t["services"].items():
                if "predicted_down" not in seen:
                    continue
                clients = seen.get("clients", {})
                backs = [c.get("back_after_recover_ms") for c in clients.values() if c.get("down_at_end")]
                outage = seen.get("outage_ms")
                lines.append("| `{}` | {} | {} | {} | {} | {} | {} | {} |".format(
                    " + ".join(t["faults"]), service,
                    "down" if seen["predicted_down"] else "**partial** (split brain)" if seen.get("predicted_partial") else "up",
                    f"down ({why_down(seen)})" if seen["down"] and why_down(seen) else "down" if seen["down"] else
                    f"**partial** ({', '.join(seen['partial_for'])} served)" if seen.get("partial_for") else "up",
                    f"{outage:.0f}" if isinstance(outage, (int, float)) else "-",
                    "yes" if seen.get("recovered_by_itself") else "-",
                    ", ".join(f"{b:.0f} ms" for b in backs if b is not None) or "-",
                    "**DISAGREES**" if service in t["disagreements"] else ""))
        (self.out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
