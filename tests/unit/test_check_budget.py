"""The health-check budget: the default's timers as configured, a large site's stretched, and
the effective values wherever timers are reported (no root)."""

from pathlib import Path

import pytest

from topo.profiles import timers_of
from hosts.haproxy import HAProxy
from hosts.site import Site
from topo.check_budget import check_timers
from topo.model import load_topology
from topo.plan import plan_network
from topo.scale import scaled_topology


def with_haproxy(topology, **settings):
    services = topology.services
    haproxy = services.haproxy.model_copy(update=settings)
    return topology.model_copy(update={"services": services.model_copy(update={"haproxy": haproxy})})


def test_the_default_runs_its_configured_timers():
    topology = load_topology()
    hp = topology.services.haproxy
    checks = check_timers(topology)
    assert (checks.inter_ms, checks.fastinter_ms, checks.agent_inter_ms) == (
        hp.check_inter_ms, hp.fastinter_ms, hp.agent_inter_ms)
    assert not checks.stretched and checks.checks_per_s == 75


@pytest.mark.parametrize("servers,stretched", [(9, False), (11, True), (47, True)])
def test_checks_stay_within_the_budget(servers, stretched):
    topology = scaled_topology(load_topology(), servers, 2)
    checks = check_timers(topology)
    assert checks.stretched == stretched
    assert checks.checks_per_s <= topology.services.haproxy.check_budget_per_s


def test_48_servers_stretch_every_interval_by_the_same_factor():
    checks = check_timers(scaled_topology(load_topology(), 47, 16))
    assert (checks.balancers, checks.servers) == (2, 48)
    assert checks.stretch == pytest.approx(4.8)
    assert (checks.inter_ms, checks.fastinter_ms, checks.agent_inter_ms) == (384, 96, 960)


def test_no_budget_means_the_timers_as_written():
    topology = with_haproxy(scaled_topology(load_topology(), 47, 2), check_budget_per_s=None)
    checks = check_timers(topology)
    assert (checks.inter_ms, checks.stretch) == (80, 1.0)
    assert "no budget" in checks.describe()


def test_without_fastinter_nothing_is_invented():
    checks = check_timers(with_haproxy(scaled_topology(load_topology(), 47, 2), fastinter_ms=None))
    assert checks.fastinter_ms is None and "fastinter" not in checks.describe()


def test_the_rendered_configuration_runs_and_names_the_effective_timers():
    site = Site(plan_network(scaled_topology(load_topology(), 47, 16)), Path("/tmp/x"))
    daemon = HAProxy(site, "lb1")
    cfg = daemon.files()[daemon.config_path]
    [default] = [line for line in cfg.splitlines() if line.strip().startswith("default-server")]
    assert " inter 384ms fastinter 96ms " in default and " agent-inter 960ms" in default
    assert "# Check timers: inter 384ms fastinter 96ms agent-inter 960ms: configured x4.80 " \
           "(2 balancers x 48 servers = 250 checks/s, budget 250/s)." in cfg


def test_timers_of_reports_effective_and_configured_values():
    timers = timers_of(scaled_topology(load_topology(), 47, 16))
    assert (timers["haproxy_check_inter_ms"], timers["haproxy_fastinter_ms"], timers["haproxy_agent_inter_ms"]) \
        == (384, 96, 960)
    assert (timers["haproxy_configured_check_inter_ms"], timers["haproxy_check_stretch"]) == (80, 4.8)
    default = timers_of(load_topology())
    assert (default["haproxy_check_inter_ms"], default["haproxy_check_stretch"]) == (80, 1.0)
