"""The testbed provider's choices, without root: a fake testbed stands in for the network, so
these check only which way each acquire goes (up, reuse, retime, rebuild) and what is stopped."""

import pytest

from hatestbed import provider as provider_module
from hatestbed.provider import TestbedProvider, way_to
from topo.errors import TestbedError
from topo.model import load_topology
from topo.profiles import with_timers

TUNED = load_topology()
STOCK = with_timers(TUNED, "stock")
SEMISYNC = with_timers(TUNED, "semisync")
BARE = TUNED.without_services()


class FakeTestbed:
    """Remembers what was asked of it; a retime is refused when the network would change."""

    started: list["FakeTestbed"] = []

    def __init__(self, topology):
        self.topology = topology
        self.services = object() if topology.services.enabled else None
        self.retimed_to, self.stopped = [], False
        FakeTestbed.started.append(self)

    def changes_on_retime(self, topology):
        if topology.model_dump(exclude={"services"}) != self.topology.model_dump(exclude={"services"}):
            raise TestbedError("retime: the new topology changes the network")
        ours, theirs = self.topology.services, topology.services
        return tuple(name for name in ("keepalived", "haproxy", "mariadb")
                     if getattr(ours, name) != getattr(theirs, name))

    def retime(self, topology, daemons):
        self.retimed_to.append((topology, daemons))
        self.topology = topology

    def stop(self):
        self.stopped = True
        return []


@pytest.fixture
def provider(monkeypatch):
    FakeTestbed.started = []
    monkeypatch.setattr(TestbedProvider, "_up", lambda self, topology: FakeTestbed(topology))
    return TestbedProvider(say=lambda line: None)


def test_the_way_follows_what_differs():
    assert way_to(None, False, TUNED, None) == "up"
    assert way_to(TUNED, False, TUNED, ()) == "reuse"
    assert way_to(TUNED, True, TUNED, ()) == "rebuild"
    assert way_to(TUNED, False, STOCK, ("haproxy", "keepalived")) == "retime"
    assert way_to(TUNED, False, SEMISYNC, ("mariadb",)) == "rebuild"  # MariaDB is never restarted on old data
    assert way_to(TUNED, False, BARE, None) == "rebuild"  # no retime reaches it


def test_a_matching_testbed_is_handed_over_again(provider):
    first = provider.acquire(TUNED)
    provider.release()
    assert provider.acquire(TUNED) is first
    assert [s.way for s in provider.log] == ["up", "reuse"] and provider.bring_ups() == 1


def test_only_the_balancer_daemons_restart_from_tuned_to_stock(provider):
    first = provider.acquire(TUNED)
    assert provider.acquire(STOCK) is first
    [(topology, daemons)] = first.retimed_to
    assert topology == STOCK and set(daemons) == {"haproxy", "keepalived"}
    assert provider.log[-1].restarted == daemons and not first.stopped


def test_a_dirty_testbed_is_replaced_even_for_the_same_topology(provider):
    first = provider.acquire(TUNED)
    provider.release(dirty=True)
    second = provider.acquire(TUNED)
    assert second is not first and first.stopped
    provider.release()
    assert provider.acquire(TUNED) is second  # the fresh one is clean


def test_a_new_network_or_database_mode_is_a_rebuild(provider):
    first = provider.acquire(TUNED)
    second = provider.acquire(SEMISYNC)
    third = provider.acquire(BARE)  # no daemons: nothing to retime
    assert first.stopped and second.stopped and not third.stopped
    assert [s.way for s in provider.log] == ["up", "rebuild", "rebuild"]
    assert provider.summary() == "testbeds: 3 brought up, 0 retimed, 0 reused"


def test_close_stops_the_testbed_and_the_next_acquire_starts_one(provider):
    first = provider.acquire(TUNED)
    provider.close()
    assert first.stopped and provider.testbed is None
    assert provider.acquire(TUNED) is not first
    assert provider.log[-1].way == "up"


def test_the_provider_is_the_only_one_to_build(monkeypatch):
    """Nothing else in the lifecycle layer brings a testbed up: the suite and the CLI ask the provider."""
    import ast
    from pathlib import Path

    package = Path(provider_module.__file__).parent
    builders = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Testbed":
                builders.append(path.name)
    assert builders == ["provider.py"], builders


def test_a_suite_starts_with_the_profile_already_running(provider):
    """lb_failover after a stock run: stock first, then tuned (one retime, not two); a dirty or
    absent testbed keeps the usual order."""
    from hatestbed.suite import _starting_with_the_running

    order = ["tuned", "galera", "stock", "semisync"]
    assert _starting_with_the_running(TUNED, order, provider) == order
    provider.acquire(STOCK)
    assert _starting_with_the_running(TUNED, order, provider) == ["stock", "tuned", "galera", "semisync"]
    provider.release(dirty=True)
    assert _starting_with_the_running(TUNED, order, provider) == order
