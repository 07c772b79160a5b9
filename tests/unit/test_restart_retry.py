"""A restart (a fault's recovery) starts a daemon once more when it exits before it is ready,
as many times as the daemon allows: real processes in the root namespace, no network."""

from __future__ import annotations

import sys

import pytest

from hosts.daemon import Daemon, ExitedDuringStartError
from hosts.manager import ServiceManager
from runtime.processes import ProcessOwner
from runtime.runstate import RunDir


class FlakyStart(Daemon):
    """Exits at its first start (it leaves a mark), stays up at the next."""
    name = "flaky"
    binary = "python3"
    package = "python3"
    stage = 1

    def __init__(self, site, host, tmp_path, retries):
        super().__init__(site, host)
        self.mark, self.up, self.start_retries = tmp_path / "tried", tmp_path / "up", retries

    @property
    def label(self) -> str:
        return "h1-flaky"

    @property
    def log_path(self):
        return self.mark.parent / "flaky.log"

    def prepare(self, node) -> None:
        pass

    def command(self) -> list[str]:
        code = (f"import pathlib, sys, time\nmark, up = pathlib.Path({str(self.mark)!r}), pathlib.Path({str(self.up)!r})\n"
                "if not mark.exists():\n    mark.touch(); sys.exit(3)\nup.touch(); time.sleep(30)\n")
        return [sys.executable, "-c", code]

    def is_ready(self, node) -> bool:
        return self.up.exists()


@pytest.fixture
def manager(tmp_path):
    manager = ServiceManager(site=None, daemons=[])
    manager.owner = ProcessOwner(RunDir.create("retry", root=tmp_path))
    yield manager
    for proc in manager.processes.values():
        proc.stop(1)


def test_an_exit_during_start_is_started_once_more_and_recorded(manager, tmp_path):
    daemon = FlakyStart(None, "h1", tmp_path, retries=1)
    done, errors = manager.restart([daemon], {"h1": None})
    assert errors == []
    assert manager.running(daemon)
    [record] = done
    assert len(record["started_again_after"]) == 1 and "exited during start-up" in record["started_again_after"][0]


def test_without_retries_the_exit_is_the_error(manager, tmp_path):
    daemon = FlakyStart(None, "h1", tmp_path, retries=0)
    with pytest.raises(ExitedDuringStartError, match="h1-flaky exited during start-up"):
        manager.restart_daemon(daemon, {"h1": None})
    assert not manager.running(daemon)
