"""The labs' command blocks, as a student types them (docs/labs/N-*.md):

    ```sh                                   each line a shell command (`sudo` dropped here: the
    sudo python3 topo/run.py --spof          tests already run as root); `# exit 2` at the end of
    ```                                      a line says the command must exit 2, not 0
    ```testbed --topology PATH              one testbed CLI session: `sudo python3 topo/run.py
    status                                   [ARGS]`, then these lines typed at the prompt
    ```                                      (run as --script)

Read by the unit tier (every command is well formed: tests/unit/test_lab_commands.py) and the
labs tier (every command runs: tests/integration/test_labs.py).
"""

import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABS = sorted((REPO / "docs" / "labs").glob("[0-9]-*.md"))
BLOCK = re.compile(r"^```(sh|testbed)([^\n]*)\n(.*?)^```", re.M | re.S)


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
