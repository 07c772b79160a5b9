"""Every command of every lab in docs/labs/, run against a real testbed, so the labs cannot rot.

A lab's fenced blocks are what a student types:

    ```sh                                   each line a shell command (`sudo` dropped here: the
    sudo python3 topo/run.py --spof          tests already run as root); `# exit 2` at the end of
    ```                                      a line says the command must exit 2, not 0
    ```testbed --topology PATH              one testbed CLI session: `sudo python3 topo/run.py
    status                                   [ARGS]`, then these lines typed at the prompt
    ```                                      (run here as --script)

Every command must succeed, and no session may print an unknown command, a usage line, an
error or a traceback. The output of each lab is kept in tests/output/labs/<lab>.txt (the answer
keys cite what these commands print). Results go to a temporary folder, not results/.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import OUTPUT

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
LABS = sorted((REPO / "docs" / "labs").glob("[0-9]-*.md"))
BLOCK = re.compile(r"^```(sh|testbed)([^\n]*)\n(.*?)^```", re.M | re.S)
# What a CLI session must never print (Mininet's own words for a bad command included).
TROUBLE = ("*** Unknown command", "usage:", "Traceback", "error:", "Error:", "not injected")


def blocks(lab: Path) -> list[tuple[str, str, list[str]]]:
    """(kind, the info string's arguments, lines) for each command block, in order."""
    found = []
    for kind, args, body in BLOCK.findall(lab.read_text()):
        lines = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
        found.append((kind, args.strip(), lines))
    return found


def shell_argv(line: str) -> tuple[list[str], int]:
    """A lab's shell line as argv (sudo dropped, topo/run.py under this interpreter) and its exit code."""
    expected = 0
    match = re.search(r"#\s*exit (\d+)\s*$", line)
    if match:
        expected, line = int(match.group(1)), line[: match.start()]
    argv = shlex.split(line, comments=True)
    if argv[0] == "sudo":
        argv = argv[1:]
    if argv[:2] == ["python3", "topo/run.py"]:
        argv = [sys.executable, "topo/run.py", *argv[2:]]
    return argv, expected


def test_every_lab_has_commands_and_an_answer_key():
    assert len(LABS) == 5
    for lab in LABS:
        kinds = {kind for kind, _, _ in blocks(lab)}
        assert kinds == {"sh", "testbed"}, f"{lab.name}: both shell commands and a CLI session"
        assert (lab.parent / "answers" / lab.name).exists(), f"{lab.name}: no answer key"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_command_of_the_lab_runs(lab, tmp_path, run_root):
    env = dict(os.environ, HATESTBED_RUN_ROOT=str(run_root), HATESTBED_RESULTS=str(tmp_path / "results"))
    log = OUTPUT / "labs" / f"{lab.stem}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        for index, (kind, args, lines) in enumerate(blocks(lab)):
            if kind == "sh":
                for line in lines:
                    argv, expected = shell_argv(line)
                    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
                    out.write(f"$ {line}\n{result.stdout}{result.stderr}\n")
                    assert result.returncode == expected, f"{lab.name}: {line}: exit {result.returncode}\n" \
                        f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
                continue
            script = tmp_path / f"session-{index}"
            script.write_text("\n".join(lines) + "\n")
            argv = [sys.executable, "topo/run.py", *shlex.split(args), "--script", str(script)]
            result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
            out.write(f"$ sudo python3 topo/run.py {args}\n" + "".join(f"testbed> {line}\n" for line in lines)
                      + result.stdout + result.stderr + "\n")
            assert result.returncode == 0, f"{lab.name}: session {index}: exit {result.returncode}\n{result.stderr}"
            trouble = [word for word in TROUBLE if word in result.stdout + result.stderr]
            assert not trouble, f"{lab.name}: session {index} printed {trouble[0]!r}; see {log}"
