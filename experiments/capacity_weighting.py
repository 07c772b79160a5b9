"""capacity_weighting: does balancing follow each server's idle capacity when one server is slow?

    client1 ── open loop, 100 req/s, a new TLS connection each ──▶ VIP ──▶ HAProxy ─┬─ server1 (slowed)
                                                                                    └─ server2
    run "off": agent-check disabled on every balancer, weights back to 100: plain round robin
    run "on":  agent-check enabled: each server's agent reports its share of free app workers,
               HAProxy scales the server's weight to it (hosts/webapp/capacity.py)

How server1 is slowed: its app sleeps DELAY_MS in every GET / (hosts/webapp/app.py SlowDown, a
file read at run time), like a server waiting on a slow dependency. Chosen over a CPU quota:
every emulated host shares the same two cores, so a cgroup limit on one host would slow it by
an amount that depends on what every other host does, while a sync worker held by a slow call
is exactly what the agent counts as busy. With 6 workers and 150 ms per request server1 serves
at most 40 req/s; round robin sends it 50 req/s, so its queue grows for the whole run.

Evidence per run: every request (latency p50/p95/p99, errors, timeouts, who served it), the
weights HAProxy applied (its stats socket, every 100 ms, on the VIP holder), what the agents
answered (asked every 100 ms from the holder's namespace, experiments/agent_sampler.py), and
HAProxy's state changes of server1 (an overloaded server also fails its health checks). One
figure holds it all. The "leastconn" profile repeats both runs with `balance leastconn`.

Run by name (not in `all`): two 10 s runs per profile and a testbed per profile.
"""

from __future__ import annotations

import collections
import csv
import sys
import threading
import time
from pathlib import Path

import numpy as np

from experiments import analysis, report
from experiments.base import Experiment, ExperimentError
from experiments.probes import HttpsProbe
from runtime.observe import vip_holders
from runtime.wait import wait_until

DELAY_MS = 150  # server1's extra service time per GET / (6 workers: at most 40 req/s)
RATE_PER_S = 100  # open-loop request rate through the VIP
RUN_S = 10.0  # each run's length
TIMEOUT_S = 5.0  # a request not answered by then is a timeout
SAMPLE_S = 0.1  # weights and agents sampled this often
MAX_INFLIGHT = 300  # probe threads: room for a queue of a few seconds at the slow server
SAMPLER = Path(__file__).resolve().parent / "agent_sampler.py"


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def shares_over_time(requests, t0: float, servers: list[str], bin_s: float = 1.0) -> list[dict]:
    """Per bin of send time: the share of successful requests each server answered."""
    bins: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in requests:
        if r.ok:
            bins[int((r.sent - t0) // bin_s)][r.served_by] += 1
    rows = []
    for index in sorted(bins):
        total = sum(bins[index].values())
        rows.append({"t_s": index * bin_s, **{s: round(bins[index][s] / total, 3) for s in servers}})
    return rows


def read_agent_trace(path: Path) -> list[dict]:
    """experiments/agent_sampler.py's CSV as [{"t", "server", "free"}] (free None: no answer)."""
    try:
        with open(path, newline="") as fh:
            return [{"t": float(row["t"]), "server": row["server"], "free": float(row["free"]) if row["free"] else None}
                    for row in csv.DictReader(fh)]
    except FileNotFoundError:
        return []


class WeightSampler:
    """A thread asking one HAProxy for its servers' weights and states every SAMPLE_S."""

    def __init__(self, haproxy):
        self.haproxy = haproxy
        self.trace: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weight-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rows = self.haproxy.server_rows()
                t = time.time()
                self.trace += [{"t": t, "server": r["svname"], "weight": int(r["weight"] or 0), "status": r["status"]}
                               for r in rows]
            except Exception:  # a stats socket hiccup loses one sample, not the run
                pass
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> WeightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


class CapacityWeighting(Experiment):
    name = "capacity_weighting"
    description = ("slow server1's app; open-loop load through the VIP with the capacity agent off, then on: "
                   "shares, latency percentiles, HAProxy's weights")
    profiles = ("tuned", "leastconn")
    order = 95
    in_all = False
    headline = ("p99_ratio", "p99_off_ms", "p99_on_ms", "slow_share_on")
    metrics = {key: "stats" for key in (
        "p99_ratio", "p50_off_ms", "p95_off_ms", "p99_off_ms", "p50_on_ms", "p95_on_ms", "p99_on_ms",
        "slow_share_off", "slow_share_on", "failed_off", "failed_on", "timeouts_off", "timeouts_on",
        "slow_down_events_off", "slow_down_events_on", "slow_weight_min_on")}

    def validate(self) -> None:
        super().validate()
        if len(self.site.active_servers) < 2:
            raise ExperimentError("capacity_weighting: needs two active servers")
        if not self.site.services.haproxy.agent_check:
            raise ExperimentError("capacity_weighting: needs services.haproxy.agent_check: true (it turns it off itself)")

    # -- the knobs --------------------------------------------------------------------------------
    def set_agents(self, enabled: bool) -> None:
        """Agent-check on or off for every server on every balancer (runtime, stats socket); off
        also puts every weight back to the configured 100 (a disabled agent leaves its last one)."""
        for lb in self.site.lbs:
            self.testbed.services.find(lb, "haproxy").set_agent_checks(self.site.servers, enabled)

    def agent_targets(self) -> list[str]:
        port = self.site.services.ports.agent
        return [f"{s}={self.site.backend_ip(s)}:{port}" for s in self.site.active_servers[:2]]

    # -- one run ----------------------------------------------------------------------------------
    def one_run(self, index: int, agent: bool, slow: str, holder: str) -> dict:
        tag = "on" if agent else "off"
        haproxy = self.testbed.services.find(holder, "haproxy")
        app = self.testbed.services.find(slow, "app")
        self.set_agents(agent)
        app.set_delay(DELAY_MS)
        agents_csv = self.trial_file(f"agents-{tag}", "csv")
        sampler = self.testbed.processes.start(
            f"agent-sampler-{self.profile}-{index}-{tag}",
            [sys.executable, str(SAMPLER), *(a for t in self.agent_targets() for a in ("--target", t)),
             "--interval", str(SAMPLE_S), "--duration", str(RUN_S + TIMEOUT_S), "--out", str(agents_csv)],
            node=self.testbed.net[holder], log=self.trial_file(f"agents-{tag}", "log"))
        probe = HttpsProbe(self.testbed, self.site.clients[0], interval=1 / RATE_PER_S, duration=RUN_S,
                           timeout=TIMEOUT_S, max_inflight=MAX_INFLIGHT,
                           label=f"capacity-{self.profile}-{index}-{tag}")
        began = time.time()
        try:
            with WeightSampler(haproxy) as weights:
                probe.start()
                requests = probe.wait()
        finally:
            app.set_delay(0)
            sampler.stop(1.0)
        ended = time.time()
        # Back to normal before the next run: the slow server's queue drained, UP on the holder.
        wait_until(lambda: haproxy.server_states().get(slow) == "UP", 20, f"{slow} UP again after the {tag} run")
        changes = [c for c in haproxy.state_changes() if c.server == slow and began <= c.time <= ended]
        return {"tag": tag, "began": began, "requests": requests, "weights": weights.trace,
                "agents": read_agent_trace(agents_csv), "changes": changes}

    def run_trial(self, index: int) -> dict:
        slow, fast = self.site.active_servers[:2]
        [holder] = vip_holders(self.testbed)
        try:
            runs = [self.one_run(index, agent, slow, holder) for agent in (False, True)]
        finally:
            self.testbed.services.find(slow, "app").set_delay(0)
            self.set_agents(True)
        result = {"slow_server": slow, "fast_server": fast, "holder": holder, "delay_ms": DELAY_MS,
                  "rate_per_s": RATE_PER_S, "run_s": RUN_S, "balance": self.site.services.haproxy.balance}
        for run in runs:
            result.update(self.run_figures(run, slow))
        off, on = result["p99_off_ms"], result["p99_on_ms"]
        result["p99_ratio"] = round(on / off, 3) if off and on is not None else None
        self.save_json(self.trial_file("traces", "json").name,
                       {run["tag"]: {"weights": run["weights"], "agents": run["agents"],
                                     "shares": shares_over_time(run["requests"], run["began"], [slow, fast])}
                        for run in runs})
        for run in runs:
            report.write_requests_csv(self.trial_file(f"requests-{run['tag']}", "csv"), run["requests"])
        self.plot(runs, slow, fast)
        return result

    @staticmethod
    def run_figures(run: dict, slow: str) -> dict:
        tag, requests = run["tag"], run["requests"]
        latencies = analysis.latencies_ms(requests)
        ok = [r for r in requests if r.ok]
        weights = [w["weight"] for w in run["weights"] if w["server"] == slow]
        return {
            f"requests_{tag}": len(requests),
            f"p50_{tag}_ms": round(percentile(latencies, 50), 1) if latencies else None,
            f"p95_{tag}_ms": round(percentile(latencies, 95), 1) if latencies else None,
            f"p99_{tag}_ms": round(percentile(latencies, 99), 1) if latencies else None,
            f"failed_{tag}": sum(not r.ok for r in requests),
            f"timeouts_{tag}": sum("timeout" in r.error for r in requests),
            f"errors_{tag}": dict(collections.Counter(r.error or str(r.status) for r in requests if not r.ok)),
            f"slow_share_{tag}": round(sum(r.served_by == slow for r in ok) / len(ok), 3) if ok else None,
            f"slow_down_events_{tag}": sum(c.state == "DOWN" for c in run["changes"]),
            f"slow_weight_min_{tag}": min(weights) if weights else None,
            f"achieved_rate_{tag}": analysis.achieved_interval(requests)["rate_per_s"],
        }

    def plot(self, runs: list[dict], slow: str, fast: str) -> None:
        """One figure: per run (columns), the share over time, every request's latency, and the
        weights HAProxy applied beside what the agents said."""
        plt = report._pyplot()
        fig, axes = plt.subplots(3, 2, figsize=(13, 10), sharex=True)
        colors = {slow: "tab:red", fast: "tab:blue"}
        for col, run in enumerate(runs):
            t0 = run["began"]
            title = f"agent-check {run['tag']} ({self.site.services.haproxy.balance})"
            shares = shares_over_time(run["requests"], t0, [slow, fast])
            ax = axes[0][col]
            for server in (slow, fast):
                ax.step([s["t_s"] for s in shares], [s[server] for s in shares], where="post",
                        color=colors[server], label=f"{server} share")
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of answers (1 s bins)")
            ax.set_title(title)
            ax.legend(loc="upper right", fontsize=8)
            ax = axes[1][col]
            for server in (slow, fast):
                pts = [(r.sent - t0, (r.done - r.sent) * 1000) for r in run["requests"] if r.ok and r.served_by == server]
                if pts:
                    ax.scatter(*zip(*pts), s=4, color=colors[server], label=f"{server}")
            failed = [(r.sent - t0, (r.done - r.sent) * 1000) for r in run["requests"] if not r.ok]
            if failed:
                ax.scatter(*zip(*failed), s=8, marker="x", color="black", label="failed")
            ax.set_yscale("log")
            ax.set_ylabel("latency (ms)")
            ax.legend(loc="upper left", fontsize=8)
            ax = axes[2][col]
            for server in (slow, fast):
                w = [(x["t"] - t0, x["weight"]) for x in run["weights"] if x["server"] == server]
                a = [(x["t"] - t0, x["free"]) for x in run["agents"] if x["server"] == server and x["free"] is not None]
                if w:
                    ax.step(*zip(*w), where="post", color=colors[server], label=f"{server} HAProxy weight")
                if a:
                    ax.plot(*zip(*a), linestyle=":", color=colors[server], label=f"{server} agent: free workers %")
            ax.set_ylim(0, 105)
            ax.set_xlabel("seconds since the run started")
            ax.set_ylabel("weight / free %")
            ax.legend(loc="lower right", fontsize=8)
        fig.suptitle(f"capacity_weighting ({self.profile}), trial {self.trial}: {slow} +{DELAY_MS} ms per request, "
                     f"{RATE_PER_S} req/s open loop")
        fig.tight_layout()
        fig.savefig(self.trial_file("capacity", "png"), dpi=100)
        plt.close(fig)
