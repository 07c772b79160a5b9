"""The experiment model (after Chaos Toolkit): validate → steady state → probes → fault → observe
→ recover (always) → steady state → journal, repeated for N trials with one seeded RNG.

    class MyExperiment(Experiment):         one module in experiments/ is all a new experiment is:
        name = "my_experiment"              its CLI name (discovered by experiments/registry.py)
        order = 90                          its place in `--experiment all`
        metrics = {"outage_ms": "stats"}    how each trial metric is summarized (see AGGREGATES)
        def run_trial(self, index): ...     probes, self.inject(fault), observe; return metrics

    the loop (run):  for each trial:  [steady state] → run_trial → [recover what is left] → [steady state]

The base class owns the fault bookkeeping and the journal; an experiment never touches the list
of pending faults. Its building blocks:

    inject(fault)                   inject, journaled; recovered at the end of the trial whatever happens
    recover_now(fault)              recover before the trial ends (when the recovery is what is measured)
    keep(fault, why)                leave it unrecovered on purpose (a crashed primary must stay down)
    start_probe(client, label)      an HTTPS probe, waited until it has a baseline of successes
    save_timeline(requests, t0, events, title)   the trial's CSV + plot, one file-name scheme
    summarize(trials)               from the declared `metrics` (override for anything richer)

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

from experiments import analysis, report
from experiments.faults.base import recover_side_by_side
from hosts.client import https_request
from topo.errors import TestbedError
from runtime.jsonl import read_jsonl
from runtime.observe import vip_holders
from runtime.wait import NotReadyError, wait_until


class ExperimentError(TestbedError):
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


# A steady state checked this recently (after the previous trial) stands for the next trial's
# "before": back to back, the two checks saw the same site.
STEADY_FRESH_S = 1.0


# How a trial metric becomes a summary metric (Experiment.metrics names one per key).
AGGREGATES = {
    "stats": lambda values: analysis.summarize(values),  # median, p95, max... (None values skipped)
    "sum": lambda values: sum(v for v in values if v is not None),
    # A flag no trial measured is None (not measured), never False (measured and not seen).
    "any": lambda values: any(values) if any(v is not None for v in values) else None,
    # ... and "all" holds only if every trial measured it: one that did not makes it unknown.
    "all": lambda values: None if any(v is None for v in values) else all(values),
    "max": lambda values: max((v for v in values if v is not None), default=None),
    "min": lambda values: min((v for v in values if v is not None), default=None),
}


class Experiment:
    name: ClassVar[str]
    description: ClassVar[str]
    # Place in `--experiment all` (lower first); long studies set in_all = False and run by name.
    order: ClassVar[int] = 100
    in_all: ClassVar[bool] = True
    # Failover experiments run once per profile so a class sees stock vs tuned side by side.
    profiles: ClassVar[tuple[str, ...]] = ("tuned",)
    # Metric keys shown in the final table.
    headline: ClassVar[tuple[str, ...]] = ()
    # Trial metric key → aggregate (a key of AGGREGATES) for the default summarize().
    metrics: ClassVar[dict[str, str]] = {}
    # Options of the command line this experiment understands (e.g. "faults"); others refuse them.
    accepts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, testbed, rng: random.Random, out_dir: Path, profile: str = "tuned",
                 options: dict | None = None):
        self.testbed = testbed
        self.options = options or {}
        self.site = testbed.site
        self.rng = rng
        self.out_dir = out_dir
        self.profile = profile
        self.journal = Journal()
        self.trial = 0  # the trial being run (numbered across the runner's fresh testbeds)
        self._pending: list = []  # injected, not yet recovered: the loop recovers them
        self.events: list[tuple[float, str]] = []  # daemon-side evidence for plots
        self._steady_after: tuple = (None, 0.0, None)  # (trial, when, detail) of the last "after" check

    # -- to override --------------------------------------------------------------------------
    @classmethod
    def fresh_testbed_per_trial(cls, profile: str) -> bool:
        """A trial that leaves the site changed for good under this profile (a promoted
        database) gets a fresh testbed per trial from the runner instead of a steady-state check
        afterwards."""
        return False

    @classmethod
    def trial_count(cls, trials: int, topology, options: dict) -> int:
        """How many trials `--trials N` means here (a sweep has one per planned fault instead)."""
        return trials

    def validate(self) -> None:
        if not self.site or not self.site.lbs or not self.site.active_servers:
            raise ExperimentError(f"{self.name}: needs load balancers and active servers (services enabled)")

    def run_trial(self, index: int) -> dict:
        raise NotImplementedError

    def summarize(self, trials: list[dict]) -> dict:
        """The declared `metrics`, each aggregated over the passed trials."""
        return {key: AGGREGATES[how]([t.get(key) for t in trials]) for key, how in self.metrics.items()}

    # -- faults: the loop owns their recovery ---------------------------------------------------
    def inject(self, fault) -> dict:
        """Inject a fault; it is recovered at the end of the trial whatever happens."""
        self._pending.append(fault)
        with self.journal.step(f"inject {fault.address}") as step:
            step.detail = fault.inject()
        return step.detail

    def recover_now(self, fault, why: str = "") -> dict:
        """Recover a fault before the trial ends (its recovery is what is measured)."""
        self._pending.remove(fault)
        with self.journal.step(f"recover {fault.address}" + (f" ({why})" if why else "")) as step:
            step.detail = fault.recover()
        return step.detail

    def recover_together(self, faults) -> list[dict]:
        """Recover several faults at once, each in its own thread, as one journal step. Some
        recoveries need each other: two Galera nodes crashed together leave the third a minority,
        and a restarted node becomes ready (Synced) only in a Primary component, which Galera
        re-forms from the saved view (pc.recovery) once ALL its members are back; one at a time,
        the first waits for the second forever. Every recovery runs to its end; the first error
        is raised after."""
        for fault in faults:
            self._pending.remove(fault)
        addresses = " + ".join(f.address for f in faults)
        with self.journal.step(f"recover {addresses} together") as step:
            outcomes = recover_side_by_side(faults)
            step.detail = [{"error": str(error)} if error else result for result, error in outcomes]
            failed = [error for _result, error in outcomes if error]
            if failed:
                raise failed[0]
        return step.detail

    def keep(self, fault, why: str) -> None:
        """Leave a fault unrecovered on purpose (the runner brings up a fresh testbed if needed)."""
        self._pending.remove(fault)
        with self.journal.step(f"keep {fault.address} unrecovered") as step:
            step.detail = {"why": why, **fault.describe()}

    def recover_all(self) -> None:
        while self._pending:
            fault = self._pending.pop()
            with self.journal.step(f"recover {fault.address}") as step:
                step.detail = fault.recover()

    # -- evidence ------------------------------------------------------------------------------
    def trial_file(self, prefix: str, ext: str, part: str | None = None) -> Path:
        """<out>/<prefix>-<profile>-<trial>[-<part>].<ext>: one scheme for every trial's files."""
        stem = "-".join([prefix, self.profile, str(self.trial)] + ([part] if part else []))
        return self.out_dir / f"{stem}.{ext}"

    def save_timeline(self, requests, t0: float, events, title: str, part: str | None = None,
                      outage: dict | None = None) -> None:
        """The trial's requests as CSV and its timeline plot (requests around t0, events marked)."""
        report.write_requests_csv(self.trial_file("requests", "csv", part), requests)
        report.timeline_plot(requests, t0, events, self.trial_file("timeline", "png", part),
                             f"{self.name} ({self.profile} timers), trial {self.trial}: {title}", outage=outage)

    def steady_state(self) -> dict:
        """Hypothesis: one LB holds the VIP, every active server is UP on every LB, HTTPS through
        the VIP works from every client."""
        holders = vip_holders(self.testbed)
        if len(holders) != 1:
            return {"ok": False, "why": f"VIP held by {holders or 'nobody'}"}
        not_up = self.servers_not_up(self.site.active_servers)
        if not_up:
            return {"ok": False, "why": not_up}
        for client in self.site.clients:
            response = https_request(self.testbed.net[client], self.site, "/")
            if not response.ok:
                return {"ok": False, "why": f"HTTPS via VIP from {client} failed: {response.status} {response.error}"}
        return {"ok": True, "vip_holder": holders[0]}

    def servers_not_up(self, servers) -> str:
        """"lb1 sees ['server3'] not UP" for the first balancer whose HAProxy does not see every one
        of `servers` UP; "" when every balancer does."""
        for lb in self.site.lbs:
            states = self.testbed.services.find(lb, "haproxy").server_states()
            down = [s for s in servers if states.get(s) != "UP"]
            if down:
                return f"{lb} sees {down} not UP"
        return ""

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

    def steady_state_before(self) -> dict:
        """The steady state before a trial: the previous trial's "after" check when it passed
        less than STEADY_FRESH_S ago (nothing ran since but the loop), else checked now."""
        index, at, detail = self._steady_after
        age = time.time() - at
        if detail is not None and age < STEADY_FRESH_S:
            return {**detail, "as_checked_after_trial": index, "age_s": round(age, 3)}
        return self.wait_steady_state()

    # -- the loop -----------------------------------------------------------------------------
    def run(self, trials: int, first: int = 0, of: int | None = None) -> dict:
        """Run `trials` trials numbered from `first` (of `of` in all, for the progress shown);
        their results, summary and journal."""
        self.validate()
        progress = getattr(self.testbed, "progress", None)
        results = []
        for index in range(first, first + trials):
            if progress is not None:
                progress.trial_started(self.name, self.profile, index + 1, of or first + trials)
            self.trial = index
            trial = {"trial": index, "status": "passed"}
            try:
                with self.journal.step(f"trial {index}: steady state before") as step:
                    step.detail = self.steady_state_before()
                with self.journal.step(f"trial {index}: method"):
                    trial.update(self.run_trial(index))
            except Exception as exc:
                trial.update(status="error", error=f"{type(exc).__name__}: {exc}",
                             traceback=traceback.format_exc(limit=5))
            finally:
                try:
                    self.recover_all()
                    if not self.fresh_testbed_per_trial(self.profile):
                        with self.journal.step(f"trial {index}: steady state after") as step:
                            step.detail = self.wait_steady_state()
                            self._steady_after = (index, time.time(), step.detail)
                except Exception as exc:
                    trial.update(status="error", recovery_error=f"{type(exc).__name__}: {exc}")
                    results.append(trial)
                    error = ExperimentError(f"{self.name}: could not recover after trial {index}: {exc}")
                    # What ran so far, so the runner can keep it and resume on a fresh testbed.
                    error.partial = {"trials": results, "journal": self.journal.as_list()}
                    raise error from exc
                finally:
                    if progress is not None:
                        progress.trial_done()
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
