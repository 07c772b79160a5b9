"""timer_sweep: how fast a failover each timer setting buys, and its price in false failovers,
with the machine idle and with a CPU stressor saturating both cores (the timer frontier).

    sudo python3 topo/run.py --experiment timer_sweep [--trials N] [--ladder 1/2000,0.05/100,...]
                             [--loads idle,stress] [--soak SECONDS]
    sudo python3 topo/run.py --experiment timer_sweep --ladder tuned --loads stress --soak 600
                             (the topology's own timers, as written, in a 10-minute stressed soak)

    ladder (slowest first)      keepalived advert_int  ×  HAProxy check inter
        1 s / 2000 ms ─▶ 0.5 / 1000 ─▶ 0.2 / 500 ─▶ 0.1 / 200 ─▶ 0.05 / 100 ─▶ 0.02 / 50 ─▶ 0.01 / 20

    one trial per (setting, load), on one testbed:
      retime: keepalived + HAProxy on both balancers restarted with the setting rendered in
      [stress: stress-ng, one worker per core, inside the testbed, for the whole cell]
      soak SOAK_S, no fault, HTTPS every 20 ms ─▶ spurious failovers: VRRP MASTER transitions
                                                  (VIP moves) and HAProxy "is DOWN" lines (any
                                                  balancer, any server)
      N × crash the VIP holder   ─▶ client outage (probe timestamps), VIP move (notify records)
      N × crash server1          ─▶ detection: the crash to the holder's "server1 is DOWN" log line

Both components step together (one testbed restart per setting); each has its own evidence, so
the frontier of each is read against its own timer. What the sweep holds constant, and why:
- HAProxy: fastinter = inter (one timer), the topology's fall/rise, passive checks off
  (error_limit 0): with `observe layer4` live traffic marks a dead server down after one failed
  connection whatever the timer, which would hide what the active checks' timer costs; and no
  check budget (topo/check_budget.py would stretch the fastest setting: its load is the price).
- keepalived: the topology's priorities, preemption and scheduling (`realtime` by default: the
  VRRP process runs SCHED_RR from the start; `auto`: keepalived's `max_auto_priority`, raised
  only once it has been late).
Failover times under stress are measured with the stressor running: the price is paid both ways.
`experiments/frontier.py` turns the cells into the frontier, the fastest setting with no false
failover under stress, and the plot.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import NodeCrash
from experiments.frontier import LOADS, Setting, fastest_clean, frontier_plot
from experiments.lb_failover import crash_vip_holder, vip_move_ms
from experiments.server_failover import detection_ms
from experiments.stressor import CpuMeter, CpuStressor
from runtime.observe import vip_holders
from runtime.wait import wait_until

# (keepalived advert_int s, HAProxy inter ms), slowest first: 1 s / 2 s (stock) down to the
# fastest each accepts here (keepalived: 10 ms steps; HAProxy: the model's 10 ms floor, 20 ms).
LADDER = ((1.0, 2000), (0.5, 1000), (0.2, 500), (0.1, 200), (0.05, 100), (0.02, 50), (0.01, 20))
TUNED = "tuned"  # a ladder item: the topology's own timers as written
SOAK_S = 30.0  # the window spurious failovers are counted in, per cell
PROBE_INTERVAL_S = 0.01  # the failover probes (the soak probe sends every 20 ms)
CELL_BOUND_S = 600  # the stressor stops by itself after this whatever happens (plus the soak)


def parse_ladder(text: str) -> tuple[tuple[float, int] | str, ...]:
    """"1/2000,0.05/100,tuned" → ((1.0, 2000), (0.05, 100), "tuned"); ValueError naming the bad
    item. "tuned" is the topology's own timers, untouched (fastinter, passive checks and all)."""
    settings = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        if item == TUNED:
            settings.append(TUNED)
            continue
        try:
            advert, inter = item.split("/")
            advert_s, inter_ms = float(advert), int(inter)
        except ValueError:
            raise ValueError(f"{item!r} is not ADVERT_S/INTER_MS (e.g. 0.05/100) or {TUNED}") from None
        if not 0.01 <= advert_s <= 255 or abs(round(advert_s * 100) - advert_s * 100) > 1e-6:
            raise ValueError(f"{item!r}: keepalived advert_int must be 0.01-255 s in 10 ms steps")
        if inter_ms < 10:
            raise ValueError(f"{item!r}: HAProxy inter must be at least 10 ms")
        settings.append((advert_s, inter_ms))
    if not settings:
        raise ValueError("no setting given")
    return tuple(settings)


def parse_loads(text: str) -> tuple[str, ...]:
    loads = tuple(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
    bad = [load for load in loads if load not in LOADS]
    if bad or not loads:
        raise ValueError(f"unknown load {bad[0] if bad else '(none given)'!r} (one of {', '.join(LOADS)})")
    return loads


def parse_soak(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 3600:
        raise ValueError("must be 1-3600 seconds")
    return value


def retimed(topology, advert_s: float, inter_ms: int):
    """The topology with one ladder setting (see the module docstring for what else is fixed)."""
    services = topology.services
    keepalived = services.keepalived.model_copy(update={"advert_int": advert_s})
    haproxy = services.haproxy.model_copy(update={"check_inter_ms": inter_ms, "fastinter_ms": None,
                                                  "error_limit": 0, "check_budget_per_s": None})
    return topology.model_copy(update={"services": services.model_copy(
        update={"keepalived": keepalived, "haproxy": haproxy})})


def cells(ladder, loads) -> list[tuple[tuple[float, int] | str, str]]:
    """Every (setting, load), settings in ladder order, each under every load."""
    return [(setting, load) for setting in ladder for load in loads]


def settings_of(trials: list[dict]) -> list[Setting]:
    """The frontier's rows from the passed cells: one per component per cell."""
    rows = []
    for t in trials:
        rows.append(Setting("keepalived", t["advert_s"] * 1000, t["load"], [v for v in t["lb_outage_ms"] if v is not None],
                            t["vip_moves"], t["soak_s"]))
        rows.append(Setting("haproxy", float(t["inter_ms"]), t["load"],
                            [v for v in t["server_detection_ms"] if v is not None], t["servers_marked_down"], t["soak_s"]))
    return rows


class TimerSweep(Experiment):
    name = "timer_sweep"
    description = ("keepalived advert_int 1 s → 10 ms and HAProxy inter 2 s → 20 ms, idle and under a CPU stressor: "
                   "failover times, spurious failovers in a soak, the frontier")
    order = 960
    in_all = False
    accepts = ("ladder", "loads", "soak")
    headline = ("keepalived_fastest_clean_ms", "lb_outage_at_fastest_ms", "haproxy_fastest_clean_ms",
                "detection_at_fastest_ms")
    @classmethod
    def trial_count(cls, trials: int, topology, options: dict) -> int:
        return len(cells(options.get("ladder") or LADDER, options.get("loads") or LOADS))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cells = cells(self.options.get("ladder") or LADDER, self.options.get("loads") or LOADS)
        self.soak_s = float(self.options.get("soak") or SOAK_S)
        self.repeats = int(self.options.get("trials") or 3)

    def validate(self) -> None:
        super().validate()
        if len(self.site.lbs) < 2 or not self.site.clients:
            raise ExperimentError("timer_sweep: needs two load balancers and a client")

    # -- the setting ------------------------------------------------------------------------------
    def apply(self, setting: tuple[float, int] | str) -> None:
        """Retime the testbed to `setting` unless it already runs with it."""
        written = self.testbed.configured_topology
        wanted = written if setting == TUNED else retimed(written, *setting)
        if wanted == self.testbed.topology:
            return
        with self.journal.step(f"retime: {setting}") as step:
            step.detail = self.testbed.retime(wanted)
        self.site = self.testbed.site
        self.wait_steady_state(30)

    def stress_host(self) -> str:
        return (self.site.monitors or self.site.clients)[-1]

    # -- the three measurements -------------------------------------------------------------------
    def soak(self, index: int) -> dict:
        """No fault for soak_s: what moved anyway."""
        lbs = [self.testbed.services.find(lb, "haproxy") for lb in self.site.lbs]
        meter = CpuMeter()
        began = time.time()
        probe = self.start_probe(self.site.clients[0], f"sweep-soak-{index}", baseline=5, interval=0.02,
                                 duration=self.soak_s + 30)
        try:
            time.sleep(max(0.0, began + self.soak_s - time.time()))  # the window itself is the measurement
        finally:
            requests = probe.stop()
        ended = time.time()
        moves = [e for e in self.vrrp_events(began) if e["t"] <= ended and e["state"] == "MASTER"]
        downs = [(h.host, c.server) for h in lbs for c in h.state_changes()
                 if c.state == "DOWN" and began <= c.time <= ended]
        window = [r for r in requests if began <= r.sent <= ended]
        return {"soak_s": round(ended - began, 1), "cpu_busy_pct": meter.percent(),
                "vip_moves": len(moves), "servers_marked_down": len(downs), "spurious_downs": downs,
                "soak_requests": len(window), "soak_failed": sum(1 for r in window if not r.ok)}

    def lb_crash(self, index: int, k: int) -> dict:
        probe = self.start_probe(self.site.clients[0], f"sweep-lb-{index}-{k}", interval=PROBE_INTERVAL_S,
                                 duration=60)
        try:
            holder, survivor, fault = crash_vip_holder(self, probe)
        finally:
            requests = probe.stop()
        result = analysis.outage(requests, fault.injected_at)
        moved = vip_move_ms(self.vrrp_events(fault.injected_at), survivor, fault.injected_at)
        self.recover_now(fault)
        self.wait_steady_state(30)
        return {"outage_ms": result["outage_ms"], "failed": result["failed_requests"], "vip_move_ms": moved}

    def server_crash(self, index: int, k: int) -> dict:
        server = self.site.active_servers[0]
        [holder] = vip_holders(self.testbed)
        haproxy = self.testbed.services.find(holder, "haproxy")
        probe = self.start_probe(self.site.clients[0], f"sweep-server-{index}-{k}", interval=PROBE_INTERVAL_S,
                                 duration=60)
        try:
            # after_ready=False: a restarted database node rejoins (or resumes replicating) by itself.
            fault = NodeCrash(self.testbed, server, after_ready=False)
            self.inject(fault)
            wait_until(lambda: haproxy.server_states().get(server) == "DOWN", 30, f"{holder} marking {server} DOWN")
            self.wait_successes(probe, time.time(), 20, 20, f"requests served without {server}")
        finally:
            requests = probe.stop()
        result = analysis.outage(requests, fault.injected_at)
        found = detection_ms(haproxy, server, fault.injected_at)
        self.recover_now(fault)
        self.wait_steady_state(60)
        return {"detection_ms": found, "failed": result["failed_requests"]}

    # -- one cell ---------------------------------------------------------------------------------
    def run_trial(self, index: int) -> dict:
        setting, load = self.cells[index]
        self.apply(setting)
        services = self.site.services
        result = {"setting": setting if setting == TUNED else "retimed", "load": load,
                  "advert_s": services.keepalived.advert_int, "inter_ms": services.haproxy.check_inter_ms,
                  "fastinter_ms": services.haproxy.fastinter_ms, "error_limit": services.haproxy.error_limit,
                  "fall": services.haproxy.fall, "rise": services.haproxy.rise,
                  "scheduling": services.keepalived.scheduling}
        stressor = CpuStressor(self.testbed, self.stress_host(), self.soak_s + CELL_BOUND_S, f"sweep-{index}") \
            if load == "stress" else nullcontext()
        with stressor:
            result.update(self.soak(index))
            meter = CpuMeter()
            lb = [self.lb_crash(index, k) for k in range(self.repeats)]
            server = [self.server_crash(index, k) for k in range(self.repeats)]
            result["cpu_busy_pct_failovers"] = meter.percent()
        result.update({
            "lb_outage_ms": [r["outage_ms"] for r in lb], "lb_failed": [r["failed"] for r in lb],
            "vip_move_ms": [r["vip_move_ms"] for r in lb],
            "server_detection_ms": [r["detection_ms"] for r in server], "server_failed": [r["failed"] for r in server],
        })
        return result

    # -- the frontier -----------------------------------------------------------------------------
    def summarize(self, trials: list[dict]) -> dict:
        rows = settings_of(trials)
        if not rows:
            return {}
        best = fastest_clean(rows, "stress" if any(r.load == "stress" for r in rows) else "idle")
        cells = [r.as_dict() for r in rows]
        self.save_json("frontier.json", cells)
        frontier_plot(rows, self.out_dir / "frontier.png",
                      f"timer frontier: failover time vs timer, false failovers in {self.soak_s:g} s soaks")
        keepalived, haproxy = best.get("keepalived"), best.get("haproxy")
        return {
            "keepalived_fastest_clean_ms": keepalived.timer_ms if keepalived else None,
            "lb_outage_at_fastest_ms": keepalived.median_ms if keepalived else None,
            "haproxy_fastest_clean_ms": haproxy.timer_ms if haproxy else None,
            "detection_at_fastest_ms": haproxy.median_ms if haproxy else None,
            "spurious_total": sum(r.spurious for r in rows),
            "cells": cells,
        }
