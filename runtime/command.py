"""Commands that report their exit code (Mininet's Node.cmd() drops it).

`run()` returns a Result; with check=True (the default) a non-zero exit raises CommandError whose
message shows the command, where it ran, the exit code, stdout and stderr. Passing a Mininet node
runs the command inside that host's namespaces (through its popen, i.e. `mnexec -da <pid>`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Sequence

from topo.errors import TestbedError


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    where: str
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class CommandError(TestbedError):
    def __init__(self, result: Result, why: str = ""):
        self.result = result
        detail = why or f"exit code {result.rc}"
        super().__init__(
            f"`{' '.join(result.args)}` on {result.where} failed ({detail})"
            f"\n  stdout: {result.stdout.strip()[-500:]}\n  stderr: {result.stderr.strip()[-500:]}")


def run(args: Sequence[str], node=None, *, timeout: float = 30, check: bool = True, input: str | None = None) -> Result:
    args = tuple(str(a) for a in args)
    where = node.name if node is not None else "root namespace"
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    if node is None:
        proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    else:
        proc = node.popen(list(args), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise CommandError(Result(args, where, -9, out, err), f"no answer within {timeout:g} s") from None
    result = Result(args, where, proc.returncode, out, err)
    if check and result.rc != 0:
        raise CommandError(result)
    return result


def check_output(args: Sequence[str], node=None, **kwargs) -> str:
    return run(args, node, **kwargs).stdout
