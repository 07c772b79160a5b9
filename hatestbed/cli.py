"""Mininet's CLI with the testbed's own commands added (`help COMMAND` explains each).

    testbed> status        hosts, addresses, switch/controller health, every daemon's state
    testbed> vip           who holds the virtual IP, and the last VRRP state changes
    testbed> experiment NAME [TRIALS]   run a failure experiment on this running testbed
    testbed> spof          the static SPOF analysis of this topology
    testbed> faults        every fault address of this topology
    testbed> fail ADDRESS  inject one (tab completes addresses), e.g. fail daemon:haproxy@lb1
    testbed> heal ADDRESS|all   recover it, or every fault still injected (also done on exit)
    testbed> probe [SECONDS]    HTTPS through the VIP, one live line: requests/s, errors, serving server
    testbed> dist [N]           N requests one after another: how round robin spreads them now
    testbed> watch [SECONDS]    VIP holder, HAProxy's server states, database roles, controller roles, live
    testbed> report             the newest report.html (or index.html) under results/
    testbed> lab check N        grade lab N's recorded predictions and answers against this session's measurements
    testbed> ui                 the live dashboard in the browser, on 127.0.0.1 (its address printed)
    testbed> client1 ping 10.0.1.100      (every Mininet command still works)
"""

from __future__ import annotations

import json
import os
import sys
import time

from mininet.cli import CLI

from experiments.faults import catalogue, catalogue_lines
from experiments.registry import resolve
from hatestbed import live
from hatestbed.faultboard import BoardError, FaultBoard
from hatestbed.status import checks_table, health_checks, hosts_table, service_checks
from hatestbed.suite import default_results, headline_table, run_on
from topo.errors import TestbedError
from runtime.observe import vip_holders
from runtime.text import wall_clock as clock


class TestbedCLI(CLI):
    prompt = "testbed> "

    def __init__(self, testbed, script: str | None = None, board: FaultBoard | None = None,
                 dashboard=None):
        self.testbed = testbed  # CLI.__init__ runs the command loop, so set this first
        # Faults injected with `fail` and not healed yet; shared with the dashboard when one runs.
        self.board = board or FaultBoard(testbed)
        self.dashboard = dashboard  # the page this session serves (`ui`, or topo/run.py --ui)
        _complete_whole_addresses()
        # A script reads nothing from the terminal: its commands' input is empty, as from a
        # pipe (and the CLI needs no terminal, so it also runs inside another program).
        stdin = open(os.devnull) if script else sys.stdin
        try:
            super().__init__(testbed.net, script=script, stdin=stdin)
        finally:  # the loop has ended: nothing a user broke stays broken through the teardown
            self.heal_all()
            if self.dashboard is not None and dashboard is None:  # started by `ui`: this session's own
                self.dashboard.stop()
            if script:
                stdin.close()

    @property
    def injected(self) -> list[str]:
        return self.board.addresses()

    # -- faults -----------------------------------------------------------------------------------
    def do_faults(self, _line: str) -> None:
        """faults: every fault address of this topology (use one with `fail`)."""
        print("\n".join(catalogue_lines(self.testbed.topology)))

    def do_fail(self, line: str) -> None:
        """fail ADDRESS: inject the fault ADDRESS names (see `faults`; tab completes), e.g.
        fail node:server1, fail daemon:haproxy@lb1, fail link:s1-s2. `heal` undoes it."""
        address = line.strip()
        if not address:
            print("usage: fail ADDRESS   (addresses: see `faults`)")
            return
        try:
            fault = self.board.fail(address, by="cli")
        except BoardError as exc:
            print(f"fail: {exc}")
            return
        print(f"{clock(fault.injected_at)}  injected {address}   (undo: heal {address})")

    def complete_fail(self, text: str, _line: str, _begin: int, _end: int) -> list[str]:
        return [e.address for e in catalogue(self.testbed.topology) if e.address.startswith(text)]

    def do_heal(self, line: str) -> None:
        """heal ADDRESS | heal all: recover a fault injected with `fail` or on the dashboard
        (all: every one still injected)."""
        address = line.strip()
        if address == "all":
            if not self.injected:
                print("heal: nothing is injected")
            self.heal_all()
            return
        try:
            fault = self.board.heal(address, by="cli")
        except BoardError as exc:
            print(f"heal: {exc}")
            return
        print(f"{clock(fault.recovered_at or time.time())}  healed {address}")

    def complete_heal(self, text: str, _line: str, _begin: int, _end: int) -> list[str]:
        return [a for a in [*self.injected, "all"] if a.startswith(text)]

    def heal_all(self) -> None:
        for address, outcome in self.board.heal_all(by="cli"):
            if isinstance(outcome, BoardError):
                print(f"heal: {outcome}")
            else:
                print(f"{clock(outcome.recovered_at or time.time())}  healed {address}")

    # -- the labs' self-check -----------------------------------------------------------------------
    def do_lab(self, line: str) -> None:
        """lab N: lab N's self-check steps. lab predict N STEP VALUE (before you break something),
        lab answer N STEP VALUE (what you read off the page or the CLI), lab check N: each step
        graded against what this testbed measured in this session."""
        from hatestbed.labs.book import KINDS, lab_book
        from hatestbed.labs.grade import LABS, LabInputError, check_lines, grade, parse_value, step_of, steps_lines
        from hatestbed.labs.session import Session

        words = line.split()
        usage = "usage: lab N | lab predict N STEP VALUE | lab answer N STEP VALUE | lab check N"
        try:
            if len(words) == 1 and words[0].isdigit():
                print("\n".join(steps_lines(int(words[0]))))
            elif len(words) >= 4 and words[0] in KINDS and words[1].isdigit():
                step = step_of(int(words[1]), words[2])
                value = parse_value(step, " ".join(words[3:]))
                lab_book(self.testbed, self.board).record(int(words[1]), step.key, words[0], value)
                print(f"recorded: lab {words[1]} {step.key} {words[0]} {value}")
            elif len(words) == 2 and words[0] == "check" and words[1].isdigit():
                lab = int(words[1])
                verdicts = grade(lab, Session(self.testbed, self.board), lab_book(self.testbed, self.board))
                print("\n".join(check_lines(lab, verdicts)))
            else:
                print(usage + "   (labs: " + ", ".join(f"{n} {title}" for n, (title, _) in LABS.items()) + ")")
        except LabInputError as exc:
            print(f"lab: {exc}")

    # -- the dashboard ----------------------------------------------------------------------------
    def do_ui(self, _line: str) -> None:
        """ui: serve the live dashboard on 127.0.0.1 and print its address (open it in the VM's
        browser). It shows this session's faults and runs until the CLI ends."""
        if self.dashboard is None:
            from hatestbed.dashboard import Dashboard
            try:
                self.dashboard = Dashboard(self.testbed, self.board).start()
            except TestbedError as exc:
                print(f"ui: {exc}")
                return
        for line in self.dashboard.addresses():
            print(line)

    # -- live views -------------------------------------------------------------------------------
    def do_probe(self, line: str) -> None:
        """probe [SECONDS]: HTTPS through the VIP from the first client every 10 ms for SECONDS
        (default 30), one line redrawn: requests/s, errors, the server answering. Ctrl-C stops it."""
        seconds = self._number(line, 30, "probe [SECONDS]")
        if seconds is not None and self._services_up("probe"):
            print(f"{clock(time.time())}  probing https://{self.testbed.site.vip} from {self.testbed.site.clients[0]}"
                  " (Ctrl-C stops)")
            live.run_probe(self.testbed, seconds, live.console())

    def do_dist(self, line: str) -> None:
        """dist [N]: N requests (default 100) through the VIP, each after the previous one ends;
        how many each server answered (the backup should answer none while the others are up)."""
        count = self._number(line, 100, "dist [N]")
        if count is not None and self._services_up("dist"):
            print("\n".join(live.run_distribution(self.testbed, int(count))))

    def do_watch(self, line: str) -> None:
        """watch [SECONDS]: who holds the VIP, how each HAProxy sees each server, each database's
        role and each controller's role, redrawn twice a second for SECONDS (default: until Ctrl-C)."""
        seconds = self._number(line, live.MAX_SECONDS, "watch [SECONDS]")
        if seconds is not None and self._services_up("watch"):
            live.run_watch(self.testbed, seconds, live.console())

    def do_report(self, _line: str) -> None:
        """report: the path of the newest report (report.html of a run, index.html of `all`)."""
        pages = [p for pattern in ("*/report.html", "*/index.html") for p in default_results().glob(pattern)]
        if not pages:
            print(f"report: no report under {default_results()} yet (run: experiment NAME)")
            return
        print(max(pages, key=lambda p: p.stat().st_mtime))

    def _number(self, line: str, default: float, usage: str) -> float | None:
        text = line.strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            value = 0
        if value <= 0:
            print(f"usage: {usage}   (a positive number)")
            return None
        return value

    def _services_up(self, command: str) -> bool:
        if self.testbed.services is None:
            print(f"{command}: services are not running (services.enabled is false)")
            return False
        return True

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
        if not self._services_up("experiment"):
            return
        result = run_on(self.testbed, cls, int(words[1]) if len(words) > 1 else 1, seed=1)
        print(headline_table([result]))
        print(f"report: {result['dir'] / 'report.html'}")

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
            print(f"  {clock(event['t'])}  {event['host']:<6} {event['state']}")


def unknown_script_command(text: str, topology) -> str | None:
    """The first line of a --script whose command the CLI would answer with "Unknown command"
    (Mininet's CLI carries on and exits 0), as "line N: WORD"; None when every line is known.
    Known: a CLI command, or a node name (`client1 ping lb1`); '#' starts a comment."""
    nodes = set(topology.hosts) | set(topology.switches) | {f"c{i}" for i in range(topology.controller.instances)}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words or words[0][0] in "!?" or hasattr(TestbedCLI, f"do_{words[0]}") or words[0] in nodes:
            continue
        return f"line {number}: unknown command {words[0]!r} (see `help` in the CLI)"
    return None


def _complete_whole_addresses() -> None:
    """Fault addresses hold ':', '@', '-', '|' and ',': readline must not split words there, or
    tab completion would see only the part after the last one."""
    try:
        import readline
    except ImportError:  # no readline (a script, a plain pipe): nothing to complete
        return
    readline.set_completer_delims(" \t\n")
