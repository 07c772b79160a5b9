"""An experiment module the discovery tests copy into the experiments package (and remove again):
proof that a new experiment is one new module and nothing else."""

from experiments.base import Experiment
from experiments.faults import parse

NAME = "zz_dropped_in"


class DroppedIn(Experiment):
    name = NAME
    description = "a module a test dropped into the experiments package"
    order = 10_000
    in_all = False  # a test helper, never part of `all`
    headline = ("served", "failed")
    metrics = {"served": "stats", "failed": "sum"}

    def run_trial(self, index: int) -> dict:
        probe = self.start_probe(self.site.clients[0], f"dropped-{self.profile}-{index}", baseline=5,
                                 interval=0.02, duration=20)
        try:
            # client2's link: client1's requests never cross it, and no daemon of a cluster sits
            # behind it. (The backup server's link, used before, got server3 evicted from Galera
            # for ~4 s by a 0.45 s cut, after the trial's steady state had passed: the next test
            # found the site still healing.)
            cut = parse("link:client2-s2", self.testbed)
            self.inject(cut)
            self.wait_successes(probe, cut.injected_at, 20, 10, "requests after the cut")
        finally:
            requests = probe.stop()
        return {"served": sum(r.ok for r in requests), "failed": sum(not r.ok for r in requests)}
