"""Bring-up's reachability pings: linear in the hosts, yet every host and every switch pair of
each network proven; and ping_pairs keeps a bounded number of pings in flight (no root)."""

from collections import Counter

import pytest

from hatestbed.testbed import Testbed
from topo.model import load_topology
from topo.plan import plan_network
from topo.reachability import network_probes, probe_pairs
from topo.scale import scaled_topology


@pytest.fixture(scope="module", params=[(2, 2), (47, 16)], ids=["default", "48-servers-16-clients"])
def plan(request):
    servers, clients = request.param
    return plan_network(scaled_topology(load_topology(), servers, clients))


def test_every_member_of_a_network_sends_and_answers_a_ping_there(plan):
    probes = probe_pairs(plan)
    for network, spec in plan.topology.networks.items():
        members = {intf.host for intf in plan.members(network)}
        here = [(src, dst) for src, dst, ip in probes if ip in spec.subnet]
        assert {src for src, _ in here} == members
        assert {dst for _, dst in here} == members


def test_every_ordered_switch_pair_of_a_network_is_crossed(plan):
    switch_of = {(intf.host, intf.network): intf.switch for intf in plan.interfaces}
    for network, spec in plan.topology.networks.items():
        switches = {intf.switch for intf in plan.members(network)}
        crossed = {(switch_of[src, network], switch_of[dst, network])
                   for src, dst, ip in probe_pairs(plan) if ip in spec.subnet}
        assert {(a, b) for a in switches for b in switches if a != b} <= crossed


def test_probes_are_host_pairs_sharing_a_network_each_once(plan):
    probes = probe_pairs(plan)
    assert set(probes) <= set(plan.reachable_pairs())
    assert not [p for p, n in Counter(probes).items() if n > 1]
    assert all(src != dst for src, dst, _ in probes)


def test_the_count_grows_with_the_hosts_not_their_square(plan):
    for network in plan.topology.networks:
        members = plan.members(network)
        switches = len({intf.switch for intf in members})
        assert len(network_probes(members)) <= len(members) + switches * (switches - 1)
    hosts = len(plan.interfaces)
    assert len(probe_pairs(plan)) <= hosts + 2 * len(plan.topology.networks)


def test_the_default_needs_thirteen_pings_instead_of_fifty_four():
    plan = plan_network(load_topology())
    assert len(plan.reachable_pairs()) == 54
    assert len(probe_pairs(plan)) == 13


def test_a_lone_member_has_nothing_to_ping():
    plan = plan_network(load_topology())
    assert network_probes(plan.members("internet")[:1]) == []
    assert len(network_probes(plan.members("internet")[:2])) == 2  # the pair, both ways


class FakePing:
    """A ping process that ends after `polls` polls, answered or not."""

    def __init__(self, pool, argv, answered, polls=3):
        self.pool, self.argv, self.answered, self.polls = pool, argv, answered, polls
        self.returncode = None

    def poll(self):
        self.polls -= 1
        if self.polls <= 0 and self.returncode is None:
            self.returncode = 0 if self.answered else 1
            self.pool.running -= 1
        return self.returncode


class FakeNet:
    def __init__(self, silent=()):
        self.silent = set(silent)
        self.running = self.most = 0
        self.argvs = []

    def __getitem__(self, host):
        net = self

        class Node:
            def popen(self, argv, **kwargs):
                net.running += 1
                net.most = max(net.most, net.running)
                net.argvs.append(argv)
                return FakePing(net, argv, answered=argv[-1] not in net.silent)
        return Node()


def test_ping_pairs_keeps_at_most_limit_pings_in_flight_and_names_the_silent():
    testbed = Testbed(load_topology())
    testbed.net = FakeNet(silent={"10.0.2.13"})
    pairs = testbed.plan.reachable_pairs()
    failures = testbed.ping_pairs(pairs, deadline=5, limit=4)
    assert testbed.net.most == 4
    assert len(testbed.net.argvs) == len(pairs)
    assert failures == [p for p in pairs if str(p[2]) == "10.0.2.13"]


def test_ping_deadlines_are_whole_seconds():
    """iputils' ping refuses a fractional -w ("invalid argument: '0.5'") and exits at once:
    every pair would look unreachable."""
    testbed = Testbed(load_topology())
    testbed.net = FakeNet()
    assert testbed.ping_pairs(probe_pairs(testbed.plan), deadline=0.5) == []
    assert {next(a for a in argv if a.startswith("-w")) for argv in testbed.net.argvs} == {"-w1"}
