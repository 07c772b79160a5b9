"""Mininet's CLI with the testbed's own commands added (more arrive with later features).

    mininet> status        hosts, addresses, switch/controller health
    mininet> client1 ping 10.0.1.100      (every Mininet command still works)
"""

from __future__ import annotations

from mininet.cli import CLI

from topo.status import checks_table, health_checks, hosts_table


class TestbedCLI(CLI):
    prompt = "testbed> "

    def __init__(self, testbed, script: str | None = None):
        self.testbed = testbed  # CLI.__init__ runs the command loop, so set this first
        super().__init__(testbed.net, script=script)

    def do_status(self, _line: str) -> None:
        """Hosts and addresses, then controller, switch and reachability health."""
        print(hosts_table(self.testbed))
        print()
        print(checks_table(health_checks(self.testbed)))
