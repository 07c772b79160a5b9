"""Every command of every lab in docs/labs/, run once against a real testbed, so the labs cannot
rot (the blocks a student types: tests/labs.py).

Every command must succeed, and no session may print an unknown command, a usage line, an
error or a traceback. The output of each lab is kept in tests/output/labs/<lab>.txt (the answer
keys cite what these commands print). Results go to a temporary folder, not results/.
"""

import os
import shlex
import subprocess
import sys

import pytest

from tests.browser import OUTPUT
from tests.labs import LABS, REPO, blocks, shell_argv

pytestmark = [pytest.mark.root, pytest.mark.labs]

# What a CLI session must never print (Mininet's own words for a bad command included).
TROUBLE = ("*** Unknown command", "usage:", "Traceback", "error:", "Error:", "not injected")


def test_every_lab_has_commands_and_an_answer_key():
    assert len(LABS) == 5
    for lab in LABS:
        kinds = {kind for kind, _, _ in blocks(lab)}
        assert kinds == {"sh", "testbed"}, f"{lab.name}: both shell commands and a CLI session"
        assert (lab.parent / "answers" / lab.name).exists(), f"{lab.name}: no answer key"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_command_of_the_lab_runs(lab, tmp_path, run_root, free_machine):
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
