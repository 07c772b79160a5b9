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
            cut = parse("link:server3-s5", self.testbed)  # the backup's link: no client should notice
            self.inject(cut)
            self.wait_successes(probe, cut.injected_at, 20, 10, "requests after the cut")
        finally:
            requests = probe.stop()
        return {"served": sum(r.ok for r in requests), "failed": sum(not r.ok for r in requests)}
