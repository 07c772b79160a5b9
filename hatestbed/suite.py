"""Run experiments on testbeds from the provider and write their results (the lifecycle above them).

    run_suite(topology, resolve("lb_failover,round_robin"), trials, seed, provider=...)
      for each profile needed (timers tuned, the topology's own database mode, stock; the other
      database modes): provider.acquire(the topology with that profile): the same topology
      reuses the testbed (tuned, then the topology's own mode), one that changes only restartable
      daemons' files retimes it (tuned to stock), anything else is a rebuild (hatestbed/provider.py)
          for each experiment needing it: Experiment(...).run(trials)
              (an experiment that cannot recover releases the testbed dirty: the next trial gets a
               fresh one; one that changes the site for good, db_failover outside Galera, gets one
               per trial and runs last)
      per experiment: results/<UTC time>-<name>/ summary.json, CSVs, PNGs, report.md, report.html
      with several experiments: results/<UTC time>-all/ index.md, index.json, index.html

One random.Random(seed) is threaded through every experiment for every random choice.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from experiments import headline, html_report, plot_queue, report
from experiments.base import Experiment, ExperimentError
from hatestbed.provider import TestbedProvider
from spof import draw_topology
from topo.profiles import DB_MODES, profile_order, timers_of, with_timers
from runtime.text import format_table

REPO = Path(__file__).resolve().parent.parent


def default_results() -> Path:
    """Where results go: results/, or $HATESTBED_RESULTS (tests point it at a temporary folder)."""
    return Path(os.environ.get("HATESTBED_RESULTS", REPO / "results"))


def run_suite(topology, classes: list[type[Experiment]], trials: int, seed: int,
              results_root: Path | None = None, run_root=None, say=print, options: dict | None = None,
              progress=None, provider: TestbedProvider | None = None) -> list[dict]:
    """Run `classes` on testbeds from `provider` (one made here, and closed at the end, when none
    is given: a given provider keeps its testbed running for its next caller)."""
    own = provider is None
    results_root = results_root or default_results()
    provider = provider or TestbedProvider(run_root, progress, say)
    progress = provider.progress
    rng = random.Random(seed)
    options = {"seed": seed, "trials": trials, **(options or {})}
    profiles = _profiles(topology, options)
    plan = [(profile, cls) for profile in profiles for cls in classes if profile in cls.profiles]
    progress.suite_started(sum(cls.trial_count(trials, with_timers(topology, profile), options)
                               for profile, cls in plan))
    started: dict[str, float] = {}
    out_dirs = {cls.name: report.results_dir(results_root, cls.name) for cls in classes}
    outcome: dict[str, dict] = {cls.name: {"trials": {}, "metrics": {}, "timers": {}, "journal": {}}
                                for cls in classes}
    versions = {}
    finished = False
    # Plots are queued and drawn at the end, on every core (plot_queue.py).
    with plot_queue.deferred(say):
        try:
            for profile in _starting_with_the_running(topology, profiles, provider):
                # Experiments that change the site for good go last: the restart after their final
                # trial is then the next acquire's.
                wanted = sorted((cls for cls in classes if profile in cls.profiles),
                                key=lambda c: c.fresh_testbed_per_trial(profile))
                if not wanted:
                    continue
                profiled = with_timers(topology, profile)
                testbed = provider.acquire(profiled)
                versions = versions or report.daemon_versions(testbed)
                for cls in wanted:
                    fresh = cls.fresh_testbed_per_trial(profile)
                    total = cls.trial_count(trials, profiled, options)
                    started.setdefault(cls.name, time.time())
                    merged = {"trials": [], "journal": []}
                    experiment = None
                    while len(merged["trials"]) < total:
                        experiment = cls(testbed, rng, out_dirs[cls.name], profile, options)
                        done = len(merged["trials"])
                        try:
                            result = experiment.run(1 if fresh else total - done, first=done, of=total)
                            rebuild = fresh
                        except ExperimentError as exc:
                            # A trial it could not recover from: keep what ran, carry on from the
                            # next trial on a fresh testbed (rebuilt only where a fault was not undone).
                            say(f"  {cls.name}: {exc}; bringing the testbed up afresh")
                            partial = getattr(exc, "partial", None)
                            result = partial or {"trials": [{"status": "error", "error": str(exc)}],
                                                 "journal": experiment.journal.as_list()}
                            result["trials"][-1]["testbed_rebuilt_after"] = True
                            rebuild = True
                            if partial is None:  # it never ran a trial (validate): nothing to resume
                                merged["trials"] += result["trials"]
                                merged["journal"] += result["journal"]
                                provider.release(dirty=True)
                                testbed = provider.acquire(profiled)
                                break
                        for trial in result["trials"]:
                            trial["trial"] = len(merged["trials"])
                            merged["trials"].append(trial)
                        merged["journal"] += result["journal"]
                        if rebuild:  # the next trial, or the next user, must not inherit its changes
                            provider.release(dirty=True)
                            if len(merged["trials"]) < total or cls is not wanted[-1]:
                                testbed = provider.acquire(profiled)
                    passed = [t for t in merged["trials"] if t["status"] == "passed"]
                    result = {"trials": merged["trials"], "journal": merged["journal"],
                              "metrics": experiment.summarize(passed) if experiment else {}}
                    entry = outcome[cls.name]
                    entry["trials"][profile] = result["trials"]
                    entry["metrics"][profile] = result["metrics"]
                    entry["journal"][profile] = result["journal"]
                    entry["timers"][profile] = timers_of(profiled)
            for entry in outcome.values():  # reports list the profiles in their usual order
                for key in ("trials", "metrics", "journal", "timers"):
                    entry[key] = {p: entry[key][p] for p in profiles if p in entry[key]}
            finished = True
        finally:
            progress.suite_done()
            if own:
                provider.close()
            elif not finished:  # stopped half-way: whatever it was doing may be left behind
                provider.release(dirty=True)

    picture = draw_topology(topology, out_dirs[classes[0].name])[1]  # one drawing serves every report
    summaries = [write_results(cls, outcome[cls.name], out_dirs[cls.name], topology, seed,
                               started[cls.name], versions, picture) for cls in classes]
    if len(classes) > 1:
        index_dir = report.write_index(results_root, [(s["name"], s["dir"], s["summary"]) for s in summaries])
        summaries.append({"name": "index", "dir": index_dir, "summary": None})
    return summaries


def _profiles(topology, options: dict) -> list[str]:
    """The profiles to bring up, in order; a database mode --modes left out is skipped."""
    return [p for p in profile_order(topology) if p not in DB_MODES or p in options.get("modes", DB_MODES)]


def _starting_with_the_running(topology, profiles: list[str], provider: TestbedProvider) -> list[str]:
    """The profiles with the one the provider's testbed already runs first: a command that
    follows another on a shared provider (a lab after a lab, a test after a test) then retimes
    once instead of twice (stock running: stock, then tuned; not tuned, then stock)."""
    running = provider.running()
    return sorted(profiles, key=lambda profile: with_timers(topology, profile) != running)


def write_results(cls: type[Experiment], entry: dict, out_dir: Path, topology, seed: int,
                  started: float, versions: dict, picture: Path | None = None) -> dict:
    """summary.json, report.md and report.html for one experiment (its trials, metrics and timers per profile)."""
    all_trials = [t for runs in entry["trials"].values() for t in runs]
    status = "passed" if all_trials and all(t["status"] == "passed" for t in all_trials) else (
        "error" if any(t["status"] == "error" for t in all_trials) else "failed")
    summary = {
        "experiment": cls.name, "description": cls.description,
        "started": started, "finished": time.time(), "seed": seed,
        "trials": entry["trials"], "metrics": entry["metrics"], "headline": list(cls.headline),
        "topology": topology.model_dump(mode="json", by_alias=True), "timers": entry["timers"],
        "versions": versions, "status": status, "journal": entry["journal"],
    }
    report.write_summary(out_dir, summary)
    plots = sorted(p for p in out_dir.glob("*.png") if p.stem != "topology")
    report.write_report_md(out_dir, summary, plots)
    if picture is None:
        picture = draw_topology(topology, out_dir)[1]  # the SVG: sharp at any zoom
    elif picture.parent != out_dir:
        for drawn in picture.parent.glob("topology.*"):
            shutil.copy2(drawn, out_dir)
    html_report.write_report_html(out_dir, summary, plots, out_dir / picture.name)
    return {"name": cls.name, "dir": out_dir, "summary": summary}


def run_on(testbed, cls: type[Experiment], trials: int, seed: int) -> dict:
    """Run one experiment on an already running testbed (the CLI's `experiment NAME`)."""
    out_dir = report.results_dir(default_results(), cls.name)
    started = time.time()
    options = {"seed": seed, "trials": trials}
    experiment = cls(testbed, random.Random(seed), out_dir, "as-running", options)
    total = cls.trial_count(trials, testbed.topology, options)
    testbed.progress.suite_started(total)
    try:
        result = experiment.run(total)
    finally:
        testbed.progress.suite_done()
    entry = {"trials": {"as-running": result["trials"]}, "metrics": {"as-running": result["metrics"]},
             "journal": {"as-running": result["journal"]}, "timers": {"as-running": timers_of(testbed.topology)}}
    return write_results(cls, entry, out_dir, testbed.topology, seed, started, report.daemon_versions(testbed))


def headline_table(summaries: list[dict], width: int = 100) -> str:
    """The final table, `width` columns at most: one row per experiment × profile (timers or
    database mode) with up to three headline figures and their units (all are in report.html)."""
    shown = [(item["summary"], profile) for item in summaries if item["summary"] is not None
             for profile in item["summary"]["metrics"]]
    rows = [[summary["experiment"], profile, summary["status"]] for summary, profile in shown]
    headers = ["experiment", "profile", "status"]
    fixed = sum(max([len(h)] + [len(r[i]) for r in rows]) + 2 for i, h in enumerate(headers))
    room = max(20, width - fixed)
    for row, (summary, profile) in zip(rows, shown):
        row.append(headline.short_line(summary, profile, room))
    return format_table(headers + ["headline figures (median over trials)"], rows)
