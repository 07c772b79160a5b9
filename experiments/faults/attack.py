"""The fault that runs one attack row: scapy_attacks.py inside the attacking host, owned by pid.

    prepare  (optional) start `scapy_attacks.py <builder> <row's options> --report
             <run>/attacks/<label>.json --go <run>/attacks/<label>.go` in the attacker's
             namespace (recorded in the run directory): it starts up (~0.5 s of Python and
             Scapy) and waits for the go file
    inject   prepare() if not done, create the go file, wait until the script says it is
             sending ({"ready": t} on its output): injected_at = go, ready_at = first send
    recover  stop it by pid if it still runs (SIGTERM: it writes its report; SIGKILL after 5 s),
             then the row's undo (wait for one VRRP master, flush poisoned ARP entries)
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

from experiments.faults.attacks import ATTACKS
from experiments.faults.base import Fault, FaultError, now, require_started
from runtime.processes import ProcessError
from runtime.wait import NotReadyError

SCRIPT = Path(__file__).resolve().parent / "scapy_attacks.py"
READY_TIMEOUT = 30.0  # interpreter + Scapy import inside a busy host; normally 1-2 s


class Attack(Fault):
    kind = "attack"
    _labels = itertools.count(1)

    def __init__(self, testbed, name: str, rng: random.Random | None = None, label: str | None = None):
        super().__init__(testbed)
        if name not in ATTACKS:
            raise FaultError(f"unknown attack {name!r}; attacks: {', '.join(ATTACKS)}")
        self.row = ATTACKS[name]
        why = self.row.applies(testbed.topology)
        if why:
            raise FaultError(f"attack:{name} cannot run on this topology: {why}")
        self.host = self.row.host(testbed.topology)
        self.rng = rng or random.Random(0)
        self.label = label or f"{name}-{next(self._labels)}"
        self.options: list[str] = []
        self.proc = None
        self.go_path: Path | None = None
        self.ready_at: float | None = None
        self.report_path: Path | None = None
        self.log_path: Path | None = None

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def address(self) -> str:
        return f"attack:{self.row.name}"

    def target(self) -> dict:
        return {"attack": self.row.name, "host": self.host, "builder": self.row.builder}

    def command_line(self) -> str:
        return f"{self.row.builder} from {self.host}: {' '.join(self.options)}"

    def prepare(self) -> None:
        """Start the attacker, held at its go: its start-up then overlaps what the experiment
        does before the attack (a baseline), instead of delaying the attack by ~0.5 s."""
        require_started(self.testbed)
        directory = self.testbed.run_dir.path / "attacks"
        directory.mkdir(parents=True, exist_ok=True)
        self.report_path = directory / f"{self.label}.json"
        self.log_path = directory / f"{self.label}.log"
        self.go_path = directory / f"{self.label}.go"
        self.options = self.row.options(self.testbed, self.rng)
        # Started at nice 19: a Python start-up and Scapy's import are a second of CPU on a 2-core
        # VM, and at the normal priority they starved keepalived and the userspace datapath long
        # enough for the backup balancer to miss three adverts and flap to MASTER just before the
        # first forged packet (seen: "lb2 MASTER at -65 ms", 21 failed requests). The script
        # returns to the normal priority when it starts sending (scapy_attacks.announce).
        argv = ["nice", "-n", "19", sys.executable, str(SCRIPT), self.row.builder, *self.options,
                "--report", str(self.report_path), "--go", str(self.go_path)]
        self.proc = self.testbed.processes.start(f"attack-{self.label}", argv, node=self.testbed.net[self.host],
                                                 log=self.log_path)

    def inject(self) -> dict:
        if self.proc is None:
            self.prepare()
        self.injected_at = now()
        self.go_path.touch()
        try:
            self.proc.wait_ready(self._ready, READY_TIMEOUT, f"attack {self.label} sending")
        except NotReadyError:
            self.proc.stop()
            raise FaultError(f"attack {self.label} did not start within {READY_TIMEOUT:g} s; "
                             f"see {self.log_path}") from None
        except ProcessError:
            pass  # a short attack may be over already: did it send?
        self.ready_at = self._ready()
        if self.ready_at is None:
            raise FaultError(f"attack {self.label} exited ({self.proc.returncode}) before sending: "
                             f"{self.proc.tail(5)}")
        return self._details(injected_at=self.injected_at, command=self.command_line(), pid=self.proc.pid,
                             ready_at=self.ready_at, startup_s=round(self.ready_at - self.injected_at, 3))

    def _ready(self) -> float | None:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            if line.startswith('{"ready"'):
                return json.loads(line)["ready"]
        return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.running()

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for the attack to end by itself; False if it is still running."""
        return self.proc is None or self.proc.wait(timeout)

    def sent(self) -> dict:
        """The script's own JSON report of what it sent ({} if it wrote none)."""
        try:
            return json.loads(self.report_path.read_text())
        except (FileNotFoundError, TypeError, json.JSONDecodeError):
            return {}

    def recover(self) -> dict:
        if self.recovered_at is not None:
            return self._details(already=True)
        self.recovered_at = now()
        details = self._details(recovered_at=self.recovered_at,
                                process=self.proc.stop() if self.proc is not None else "never started",
                                returncode=self.proc.returncode if self.proc is not None else None)
        if self.row.undo is not None and self.proc is not None:
            details["undo"] = self.row.undo(self.testbed)
        return details
