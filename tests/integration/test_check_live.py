"""--check with the real checkers (root: they run in network namespaces of their own): the
default topology passes every one in seconds, and a broken configuration is caught by its own
daemon's checker, named, with the checker's words."""

import tempfile
import time
from pathlib import Path

import pytest

from hatestbed.check import check_topology
from hosts.haproxy import HAProxy
from topo.model import load_topology

pytestmark = pytest.mark.root


def scratch_dirs() -> set:
    return set(Path(tempfile.gettempdir()).glob("hatestbed-check-*"))


def test_every_daemon_of_the_default_passes_its_own_checker():
    before = scratch_dirs()
    began = time.monotonic()
    # The default scratch root (/tmp): pytest's own tmp_path is too long for HAProxy's UNIX socket.
    results = check_topology(load_topology())
    assert time.monotonic() - began < 10
    assert {r.checker for r in results} >= {"haproxy", "keepalived", "nginx", "iptables-restore", "mariadbd",
                                             "gunicorn", "promtool"}
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert scratch_dirs() == before  # the scratch directory is gone


def test_a_broken_configuration_is_caught_by_its_checker(monkeypatch):
    real = HAProxy.files

    def broken(self):
        return {path: text.replace("balance ", "balanse ", 1) for path, text in real(self).items()}

    monkeypatch.setattr(HAProxy, "files", broken)
    results = check_topology(load_topology())
    failed = {r.daemon: r.detail for r in results if not r.ok}
    assert set(failed) == {"lb1-haproxy", "lb2-haproxy"}
    assert "balanse" in failed["lb1-haproxy"]
