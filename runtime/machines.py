"""Reaching the other machines of a split placement: SSH as root, one shared connection each.

    this machine ── ssh -F <config> root@<address> '<quoted command>' ──▶ machine m2
                    ControlMaster: the first command opens one connection, the rest ride on it
                    (~7 ms a command instead of ~280 ms for a fresh handshake)

A Machine is plain data (name, address, ssh config path), so a run directory can write it down
and `--clean` can reach the machine again after a crash. Commands are argv lists, quoted here:
ssh joins its arguments with spaces and the remote shell splits them again, so an unquoted
`sh -ec "a; b"` would arrive as `sh -ec a; b`.

Processes on another machine live in its PID namespace: their pids mean nothing here. Every
question about one (is it alive, which start time, signal it) goes to its machine:
`start_times()` reads /proc/<pid>/stat there for many pids in one round trip, `signal()` sends
kill there.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from typing import Iterable, Sequence

from runtime import command
from runtime.command import Result


@dataclass(frozen=True)
class Machine:
    name: str
    address: str  # what ssh connects to
    ssh_config: str  # an ssh_config(5) file: identity, known hosts, connection sharing

    def ssh_argv(self, tty: bool = False) -> list[str]:
        """ssh to the machine, without the command (Mininet's RemoteMixin appends its own)."""
        return ["ssh", "-F", self.ssh_config, "-q", *(["-tt"] if tty else []), f"root@{self.address}"]

    def argv(self, args: Sequence[str]) -> list[str]:
        return self.ssh_argv() + [shlex.join(str(a) for a in args)]

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """`argv` in the machine's root namespace: what runtime.command.run asks of a node."""
        return subprocess.Popen(self.argv(argv), **kwargs)

    def run(self, args: Sequence[str], *, timeout: float = 30, check: bool = True, input: str | None = None) -> Result:
        """`args` in the machine's root namespace; runtime.command.run's Result and errors."""
        return command.run(args, self, timeout=timeout, check=check, input=input)

    def start_times(self, pids: Iterable[int]) -> dict[int, int]:
        """pid → kernel start time on the machine, for those of `pids` that run there (zombies
        excluded, as locally). One round trip; {} when the machine does not answer."""
        pids = sorted(set(int(p) for p in pids))
        if not pids:
            return {}
        paths = " ".join(f"/proc/{pid}/stat" for pid in pids)
        result = self.run(["sh", "-c", f"cat {paths} 2>/dev/null; true"], check=False, timeout=15)
        return parse_stat_lines(result.stdout) if result.ok else {}

    def signal(self, sig: int, pids: Iterable[int], group: bool = False) -> None:
        """kill -<sig> on the machine (process groups with group=True); a gone pid is no error."""
        targets = [f"-{pid}" if group else str(pid) for pid in pids]
        if targets:
            # No `--`: dash's kill (sh on Debian) takes a negative pid after the signal as a group.
            self.run(["sh", "-c", f"kill -{int(sig)} {' '.join(targets)} 2>/dev/null; true"], check=False, timeout=15)

    def reachable(self) -> bool:
        return self.run(["true"], check=False, timeout=10).ok


def parse_stat_lines(text: str) -> dict[int, int]:
    """pid → start time from /proc/<pid>/stat lines (comm may hold spaces: split after the last ')')."""
    times = {}
    for line in text.splitlines():
        if ")" not in line:
            continue
        head, tail = line.rsplit(")", 1)
        fields = tail.split()
        if len(fields) < 20 or fields[0] == "Z":
            continue
        times[int(head.split(" (", 1)[0])] = int(fields[19])
    return times
