"""Mininet's CLI with the testbed's own commands added (more arrive with later features).

    mininet> status        hosts, addresses, switch/controller health, every daemon's state
    mininet> vip           who holds the virtual IP, and the last VRRP state changes
    mininet> experiment NAME [TRIALS]   run a failure experiment on this running testbed
    mininet> spof          the static SPOF analysis of this topology
    mininet> client1 ping 10.0.1.100      (every Mininet command still works)
"""

from __future__ import annotations

import json

from mininet.cli import CLI

from experiments.registry import resolve
from hatestbed.status import checks_table, health_checks, hosts_table, service_checks
from hatestbed.suite import headline_table, run_on
from topo.errors import TestbedError
from topo.observe import vip_holders


class TestbedCLI(CLI):
    prompt = "testbed> "

    def __init__(self, testbed, script: str | None = None):
        self.testbed = testbed  # CLI.__init__ runs the command loop, so set this first
        super().__init__(testbed.net, script=script)

    def do_status(self, _line: str) -> None:
        """Hosts and addresses, then controller, switch and reachability health."""
        print(hosts_table(self.testbed))
        print()
        print(checks_table(health_checks(self.testbed) + service_checks(self.testbed)))

    def do_experiment(self, line: str) -> None:
        """experiment NAME [TRIALS]: run an experiment here (results under results/)."""
        words = line.split()
        if not words or (len(words) > 1 and not words[1].isdigit()):
            print("usage: experiment NAME [TRIALS]   (names: see --list-experiments)")
            return
        try:
            classes = resolve(words[0])
        except TestbedError as exc:
            print(f"experiment: {exc}")
            return
        if len(classes) != 1:
            print("experiment: one experiment at a time here (all of them: topo/run.py --experiment all)")
            return
        [cls] = classes
        if self.testbed.services is None:
            print("experiment: services are not running (services.enabled is false)")
            return
        result = run_on(self.testbed, cls, int(words[1]) if len(words) > 1 else 1, seed=1)
        print(headline_table([result]))
        print(f"report: {result['dir'] / 'report.md'}")

    def do_spof(self, _line: str) -> None:
        """spof: the static SPOF analysis of this testbed's topology (no faults injected)."""
        from spof.analysis import analyze
        from spof.output import terminal_table

        print(terminal_table(analyze(self.testbed.topology)))

    def do_vip(self, _line: str) -> None:
        """Which load balancer holds the VIP, and the last VRRP state changes (notify records)."""
        if self.testbed.services is None:
            print("services are not running (services.enabled is false)")
            return
        holders = vip_holders(self.testbed)
        print(f"VIP {self.testbed.site.vip} held by {', '.join(holders) or 'nobody'}")
        path = self.testbed.site.vrrp_events
        lines = path.read_text().splitlines()[-6:] if path.exists() else []
        for line in lines:
            event = json.loads(line)
            print(f"  {event['t']:.3f}  {event['host']:<6} {event['state']}")
