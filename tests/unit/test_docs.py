"""The README stays a front door and the docs hold together: its length, every relative link from it
and from docs/*.md, and docs/measurements.md as scripts/measurements.py would write it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")


def links(page: Path) -> list[str]:
    """The targets of the page's Markdown links, code blocks and inline code left out."""
    text = CODE.sub("", FENCE.sub("", page.read_text()))
    return LINK.findall(text)


def test_readme_is_a_front_door():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= 200, f"README.md has {lines} lines, more than 200: move the detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = [target for target in links(page)
              if not re.match(r"(https?:|mailto:|#)", target)
              and not (page.parent / target.split("#")[0]).exists()]
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


def test_measurements_are_generated():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "measurements.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"docs/measurements.md: {done.stdout.strip() or done.stderr.strip()}"


@pytest.mark.skipif(not shutil.which("git") or not (REPO / ".git").exists(), reason="not a git checkout")
def test_reference_runs_are_in_git():
    folders = [ref["folder"] for ref in yaml.safe_load((REPO / "results" / "REFERENCES.yaml").read_text())["references"]]
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "results"], capture_output=True, text=True).stdout
    missing = [f for f in folders if f"results/{f}/" not in tracked]
    assert not missing, f"results/REFERENCES.yaml: folders not tracked by git {missing}"
