"""The experiment model (after Chaos Toolkit): validate → steady state → probes → fault → observe
→ recover (always) → steady state → journal, repeated for N trials with one seeded RNG.

    Experiment(testbed, rng, out_dir, profile)
      validate()          the topology has what the experiment needs (ExperimentError if not)
      run_trial(i)        subclass: start probes, inject faults with self.inject(), observe,
                          return the trial's metrics (a dict); faults are recovered in `finally`
      summarize(trials)   subclass: headline metrics over all trials
      run(trials)         the loop below, every step journaled with start/end/duration/status

    for each trial:  [steady state] → run_trial → [recover every injected fault] → [steady state]

A trial that raises is journaled as "error" and the next trial still runs after recovery.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from hosts.client import https_request
from topo.jsonl import read_jsonl
from topo.status import vip_holders
from topo.wait import NotReadyError, wait_until


class ExperimentError(RuntimeError):
    """The experiment cannot run here (bad name, topology lacks what it needs, steady state never reached)."""


@dataclass
class Step:
    name: str
    started: float
    finished: float = 0.0
    duration_s: float = 0.0
    status: str = "running"
    detail: object = None


@dataclass
class Journal:
    steps: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, name: str):
        step = Step(name, time.time())
        self.steps.append(step)
        try:
            yield step
            step.status = "ok"
        except Exception as exc:
            step.status = "error"
            step.detail = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            step.finished = time.time()
            step.duration_s = round(step.finished - step.started, 4)

    def as_list(self) -> list[dict]:
        return [asdict(s) for s in self.steps]


# Timer profiles: the daemons' stock defaults versus the testbed's tuned ones (the YAML values).
STOCK_TIMERS = {
    "keepalived": {"advert_int": 1.0},
    "haproxy": {"check_inter_ms": 2000, "fastinter_ms": None, "fall": 3, "rise": 2},
}


def with_timers(topology, profile: str):
    """The topology with a timer profile applied: "tuned" (as written) or "stock"."""
    if profile == "tuned":
        return topology
    if profile != "stock":
        raise ExperimentError(f"unknown timer profile {profile!r} (stock or tuned)")
    services = topology.services
    services = services.model_copy(update={
        "keepalived": services.keepalived.model_copy(update=STOCK_TIMERS["keepalived"]),
        "haproxy": services.haproxy.model_copy(update=STOCK_TIMERS["haproxy"]),
    })
    return topology.model_copy(update={"services": services})


def timers_of(topology) -> dict:
    s = topology.services
    return {"keepalived_advert_int_s": s.keepalived.advert_int, "keepalived_preempt": s.keepalived.preempt,
            "haproxy_check_inter_ms": s.haproxy.check_inter_ms, "haproxy_fastinter_ms": s.haproxy.fastinter_ms,
            "haproxy_fall": s.haproxy.fall,
            "haproxy_rise": s.haproxy.rise, "haproxy_agent_check": s.haproxy.agent_check}


class Experiment:
    name: ClassVar[str]
    description: ClassVar[str]
    # Failover experiments run once per profile so a class sees stock vs tuned side by side.
    profiles: ClassVar[tuple[str, ...]] = ("tuned",)
    # Metric keys shown in the final table.
    headline: ClassVar[tuple[str, ...]] = ()
    # A trial that leaves the site changed for good (a promoted database) gets a fresh testbed
    # per trial from the runner instead of a steady-state check afterwards.
    fresh_testbed_per_trial: ClassVar[bool] = False

    def __init__(self, testbed, rng: random.Random, out_dir: Path, profile: str = "tuned"):
        self.testbed = testbed
        self.site = testbed.site
        self.rng = rng
        self.out_dir = out_dir
        self.profile = profile
        self.journal = Journal()
        self.faults: list = []
        self.events: list[tuple[float, str]] = []  # daemon-side evidence for plots

    # -- to override --------------------------------------------------------------------------
    def validate(self) -> None:
        if not self.site or not self.site.lbs or not self.site.active_servers:
            raise ExperimentError(f"{self.name}: needs load balancers and active servers (services enabled)")

    def run_trial(self, index: int) -> dict:
        raise NotImplementedError

    def summarize(self, trials: list[dict]) -> dict:
        return {}

    # -- shared building blocks ---------------------------------------------------------------
    def inject(self, fault) -> dict:
        """Inject a fault; it is recovered at the end of the trial whatever happens."""
        self.faults.append(fault)
        with self.journal.step(f"inject {fault.kind}") as step:
            step.detail = fault.inject()
        return step.detail

    def recover_all(self) -> None:
        while self.faults:
            fault = self.faults.pop()
            with self.journal.step(f"recover {fault.kind}") as step:
                step.detail = fault.recover()

    def steady_state(self) -> dict:
        """Hypothesis: one LB holds the VIP, every active server is UP on every LB, HTTPS through
        the VIP works from every client."""
        holders = vip_holders(self.testbed)
        if len(holders) != 1:
            return {"ok": False, "why": f"VIP held by {holders or 'nobody'}"}
        for lb in self.site.lbs:
            states = self.testbed.services.find(lb, "haproxy").server_states()
            down = [s for s in self.site.active_servers if states.get(s) != "UP"]
            if down:
                return {"ok": False, "why": f"{lb} sees {down} not UP"}
        for client in self.site.clients:
            response = https_request(self.testbed.net[client], self.site, "/")
            if not response.ok:
                return {"ok": False, "why": f"HTTPS via VIP from {client} failed: {response.status} {response.error}"}
        return {"ok": True, "vip_holder": holders[0]}

    def wait_steady_state(self, timeout: float = 20.0) -> dict:
        last = {}

        def check():
            nonlocal last
            last = self.steady_state()
            return last["ok"]

        try:
            wait_until(check, timeout, "steady state", interval=0.2)
        except NotReadyError:
            raise ExperimentError(f"{self.name}: steady state not reached within {timeout:g} s: {last.get('why')}") from None
        return last

    # -- the loop -----------------------------------------------------------------------------
    def run(self, trials: int) -> dict:
        self.validate()
        results = []
        for index in range(trials):
            trial = {"trial": index, "status": "passed"}
            try:
                with self.journal.step(f"trial {index}: steady state before") as step:
                    step.detail = self.wait_steady_state()
                with self.journal.step(f"trial {index}: method"):
                    trial.update(self.run_trial(index))
            except Exception as exc:
                trial.update(status="error", error=f"{type(exc).__name__}: {exc}",
                             traceback=traceback.format_exc(limit=5))
            finally:
                try:
                    self.recover_all()
                    if not self.fresh_testbed_per_trial:
                        with self.journal.step(f"trial {index}: steady state after") as step:
                            step.detail = self.wait_steady_state()
                except Exception as exc:
                    trial.update(status="error", recovery_error=f"{type(exc).__name__}: {exc}")
                    results.append(trial)
                    raise ExperimentError(f"{self.name}: could not recover after trial {index}: {exc}") from exc
            results.append(trial)
        return {"trials": results, "metrics": self.summarize([t for t in results if t["status"] == "passed"]),
                "journal": self.journal.as_list()}

    def start_probe(self, client: str, label: str, baseline: int = 30, **options):
        """Start an HTTPS probe on `client` and wait for `baseline` successes (the steady state
        the fault is measured against). The caller stops it; if the baseline never comes, it is
        stopped here."""
        from experiments.probes import HttpsProbe

        probe = HttpsProbe(self.testbed, client, label=label, **options)
        probe.start()
        try:
            self.wait_successes(probe, time.time(), baseline, 10, f"a baseline of {baseline} successful requests")
        except BaseException:
            probe.stop()
            raise
        return probe

    def wait_successes(self, probe, after: float, count: int, timeout: float, what: str) -> None:
        """Wait until `probe` has `count` successful requests sent after `after` (evidence, not a sleep)."""
        wait_until(lambda: sum(1 for r in probe.requests() if r.ok and r.sent > after) >= count,
                   timeout, what, interval=0.05)

    def vrrp_events(self, since: float) -> list[dict]:
        """keepalived notify records (every LB appends to one file) from `since` on."""
        return [e for e in read_jsonl(self.site.vrrp_events) if e["t"] >= since]

    def save_json(self, name: str, data) -> Path:
        path = self.out_dir / name
        path.write_text(json.dumps(data, indent=2, default=str))
        return path
