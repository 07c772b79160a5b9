"""Retiming a running testbed without root: which daemons a profile change restarts (their
rendered files differ), and plots queued while a suite runs, drawn when it ends."""

from pathlib import Path

from experiments import plot_queue
from topo.profiles import with_timers
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from topo.model import load_topology
from topo.plan import plan_network


def running_manager(topology, run: Path) -> ServiceManager:
    """A manager whose files are written and whose daemons count as started (no processes)."""
    site = Site(plan_network(topology), run)
    manager = ServiceManager(site, daemons_for(site))
    manager.write_configs()
    manager.processes = {d.label: object() for d in manager.daemons}
    return manager


def changed(manager: ServiceManager, topology, run: Path) -> set[str]:
    site = Site(plan_network(topology), run)
    return set(manager.changed_by(site, daemons_for(site)))


def test_the_same_profile_changes_nothing(tmp_path):
    topology = load_topology()
    assert changed(running_manager(topology, tmp_path), topology, tmp_path) == set()


def test_tuned_to_stock_restarts_only_the_balancer_daemons(tmp_path):
    topology = load_topology()
    manager = running_manager(topology, tmp_path)
    assert changed(manager, with_timers(topology, "stock"), tmp_path) == {"haproxy", "keepalived"}


def test_a_haproxy_only_change_restarts_keepalived_with_it(tmp_path):
    """keepalived tracks HAProxy by pid: left running under a restarted HAProxy it would go
    FAULT after the retime returned and move the VIP."""
    topology = load_topology()
    manager = running_manager(topology, tmp_path)
    assert changed(manager, with_timers(topology, "leastconn"), tmp_path) == {"haproxy", "keepalived"}


def test_a_database_mode_change_reaches_mariadb(tmp_path):
    topology = load_topology()
    manager = running_manager(topology, tmp_path)
    assert "mariadb" in changed(manager, with_timers(topology, "semisync"), tmp_path)


def write_text(path, text):
    Path(path).write_text(text)


def test_plots_are_drawn_at_once_outside_a_suite(tmp_path):
    target = plot_queue.submit(write_text, tmp_path / "now.txt", "drawn")
    assert target.read_text() == "drawn"


def test_queued_plots_are_drawn_when_the_block_closes(tmp_path):
    paths = [tmp_path / f"p{i}.txt" for i in range(3)]
    with plot_queue.deferred(say=lambda line: None):
        for path in paths:
            plot_queue.submit(write_text, path, path.name)
        assert not any(p.exists() for p in paths)  # nothing drawn while the testbed would run
    assert [p.read_text() for p in paths] == ["p0.txt", "p1.txt", "p2.txt"]


def fails(path):
    raise ValueError("no data")


def test_a_plot_that_fails_is_reported_and_the_others_are_drawn(tmp_path):
    said = []
    with plot_queue.deferred(say=said.append):
        plot_queue.submit(fails, tmp_path / "bad.png")
        plot_queue.submit(write_text, tmp_path / "good.txt", "ok")
    assert (tmp_path / "good.txt").read_text() == "ok"
    assert len(said) == 1 and "bad.png" in said[0] and "no data" in said[0]
