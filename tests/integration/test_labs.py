"""Every command of every lab in docs/labs/, run once against a real testbed, so the labs cannot
rot (the blocks a student types: tests/labs.py; the unit tier checks each is well formed).

A command runs as topo/run.py's own main() in this process, on the session's shared testbed
provider (hatestbed/provider.py; the `topo_run` fixture): the same argument checks, modes and
experiments a student's `sudo python3 topo/run.py ...` runs, without a bring-up per command. The labs follow one
another on the default topology, retimed where a command asks for other timers; a lab on
another topology (lab 4's exposed design, lab 5's line) rebuilds once. topo/run.py as a process
of its own is tested in test_lifecycle.py.

Every command must end with the exit code the lab gives, and no CLI session may print an
unknown command, a usage line, an error or a traceback. The output of each lab is kept in
tests/output/labs/<lab>.txt (the answer keys cite what these commands print). Results go to a
temporary folder, not results/.
"""

import shlex

import pytest

from tests.browser import OUTPUT
from tests.labs import LABS, blocks, shell_argv

pytestmark = [pytest.mark.root, pytest.mark.labs]

# What a CLI session must never print (Mininet's own words for a bad command included).
TROUBLE = ("*** Unknown command", "usage:", "Traceback", "error:", "Error:", "not injected")


def parts(lab) -> list[tuple[str, list[tuple[int, tuple]]]]:
    """The lab's (index, block)s cut before the first block that names a topology of its own:
    ("default", the blocks before), ("other", that block and the rest). A lab with no such
    block is one part, "default"."""
    numbered = list(enumerate(blocks(lab)))
    cut = next((i for i, (_, (_kind, args, lines)) in enumerate(numbered)
                if "--topology" in args or any("--topology" in line for line in lines)), len(numbered))
    return [(name, chunk) for name, chunk in (("default", numbered[:cut]), ("other", numbered[cut:])) if chunk]


# Every lab's default-topology part first, in lab order, then the parts on topologies of their
# own (lab 4's exposed design, lab 5's line): lab 5's sweep then reuses the default testbed the
# labs before it leave running, Prometheus scraping, and the tier rebuilds twice, not three times.
RUN = sorted(((lab, name, chunk) for lab in LABS for name, chunk in parts(lab)), key=lambda p: p[1] != "default")


@pytest.mark.parametrize("lab, part, numbered", RUN, ids=[f"{lab.stem}:{part}" for lab, part, _ in RUN])
def test_every_command_of_the_lab_runs(lab, part, numbered, tmp_path, topo_run, monkeypatch):
    monkeypatch.chdir(lab.parents[2])  # the labs' paths are relative to the repository
    log = OUTPUT / "labs" / f"{lab.stem}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w" if part == "default" else "a") as out:
        for index, (kind, args, lines) in numbered:
            if kind == "sh":
                for line in lines:
                    argv, expected = shell_argv(line)
                    ran = topo_run(argv[2:])
                    code, printed = ran.code, ran.printed
                    out.write(f"$ {line}\n{printed}\n[{ran.seconds} s]\n")
                    assert code == expected, f"{lab.name}: {line}: exit {code}\n{printed[-3000:]}"
                continue
            script = tmp_path / f"session-{index}"
            script.write_text("\n".join(lines) + "\n")
            ran = topo_run([*shlex.split(args), "--script", str(script)])
            code, printed = ran.code, ran.printed
            out.write(f"$ sudo python3 topo/run.py {args}\n" + "".join(f"testbed> {line}\n" for line in lines)
                      + printed + f"\n[{ran.seconds} s]\n")
            assert code == 0, f"{lab.name}: session {index}: exit {code}\n{printed[-3000:]}"
            trouble = [word for word in TROUBLE if word in printed]
            assert not trouble, f"{lab.name}: session {index} printed {trouble[0]!r}; see {log}"
