"""round_robin: no fault; how evenly do the balancers spread requests?

    client1 ──N sequential──▶ VIP ──roundrobin──▶ server1 / server2   (server3: backup, expect 0)
    client1 ──N at a fixed 5 ms pace (overlapping)──▶ ... with HAProxy's agent-check on (weights
                                                       follow each server's free workers)

The sequential phase runs with agent-check disabled on every balancer through HAProxy's runtime
API (plain round robin, the seed's baseline), then re-enabled; counts come from the
X-Served-By header of every response.
"""

from __future__ import annotations

from experiments import analysis, report
from experiments.base import Experiment, ExperimentError
from experiments.probes import HttpsProbe


class RoundRobin(Experiment):
    name = "round_robin"
    description = "N sequential then N concurrent requests through the VIP; per-server shares and fairness"
    order = 10
    headline = ("sequential_max_pair_difference", "sequential_jain", "sequential_chi2_p", "concurrent_jain",
                "backup_share")
    # 500 per trial (1000 before): each is a TLS handshake of ~9 ms, and round robin is exact
    # from the first pair on, so the second 500 only cost the main command 14 s.
    sequential_requests = 500
    concurrent_requests = 500

    def validate(self) -> None:
        super().validate()
        if len(self.site.active_servers) < 2:
            raise ExperimentError("round_robin: needs at least two active servers")

    def expected(self) -> dict[str, float]:
        share = 1.0 / len(self.site.active_servers)
        return {s: (share if s in self.site.active_servers else 0.0) for s in self.site.servers}

    def set_agent_checks(self, enabled: bool) -> None:
        for lb in self.site.lbs:
            self.testbed.services.find(lb, "haproxy").set_agent_checks(self.site.servers, enabled)

    def run_trial(self, index: int) -> dict:
        client = self.site.clients[0]
        agent = self.site.services.haproxy.agent_check
        with self.journal.step("sequential requests, agent-check off"):
            if agent:
                self.set_agent_checks(False)
            try:
                # interval 0: each request starts as soon as the previous one has finished.
                probe = HttpsProbe(self.testbed, client, sequential=True, interval=0.0,
                                   count=self.sequential_requests, duration=120, label=f"rr-seq-{self.profile}-{index}")
                probe.start()
                sequential = probe.wait()
            finally:
                if agent:
                    self.set_agent_checks(True)
        with self.journal.step("concurrent requests, agent-check as configured"):
            probe = HttpsProbe(self.testbed, client, interval=0.005, count=self.concurrent_requests,
                               duration=60, label=f"rr-conc-{self.profile}-{index}")
            probe.start()
            concurrent = probe.wait()
        report.write_requests_csv(self.trial_file("requests", "csv", "sequential"), sequential)
        report.write_requests_csv(self.trial_file("requests", "csv", "concurrent"), concurrent)
        expected = self.expected()
        seq = analysis.distribution([r.served_by for r in sequential if r.ok], expected)
        conc = analysis.distribution([r.served_by for r in concurrent if r.ok], expected)
        if index == 0:  # one picture per profile
            report.distribution_plot(seq["counts"], expected, self.out_dir / f"distribution-sequential-{self.profile}.png",
                                     f"{self.sequential_requests} sequential requests (agent-check off)")
            report.distribution_plot(conc["counts"], expected, self.out_dir / f"distribution-concurrent-{self.profile}.png",
                                     f"{self.concurrent_requests} requests every 5 ms (agent-check {'on' if agent else 'off'})")
        return {"sequential": seq, "concurrent": conc,
                "sequential_failed": sum(1 for r in sequential if not r.ok),
                "concurrent_failed": sum(1 for r in concurrent if not r.ok)}

    def summarize(self, trials: list[dict]) -> dict:
        if not trials:
            return {}
        backup = [s for s in self.site.servers if s in self.site.backup_servers]

        def share_of(phase, servers):
            return sum(t[phase]["counts"].get(s, 0) for t in trials for s in servers) / max(
                1, sum(sum(t[phase]["counts"].values()) for t in trials))

        return {
            "sequential_counts": [t["sequential"]["counts"] for t in trials],
            "concurrent_counts": [t["concurrent"]["counts"] for t in trials],
            "sequential_max_pair_difference": max(t["sequential"]["max_pair_difference"] for t in trials),
            "sequential_max_deviation_share": max(t["sequential"]["max_deviation_share"] for t in trials),
            "sequential_jain": min(t["sequential"]["jain"] for t in trials),
            "sequential_chi2_p": min(t["sequential"]["p_value"] for t in trials),
            "concurrent_jain": min(t["concurrent"]["jain"] for t in trials),
            "concurrent_chi2_p": min(t["concurrent"]["p_value"] for t in trials),
            "backup_share": share_of("sequential", backup) if backup else 0.0,
            "failed_requests": sum(t["sequential_failed"] + t["concurrent_failed"] for t in trials),
            "requests_per_trial": self.sequential_requests + self.concurrent_requests,
        }
