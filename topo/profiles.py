"""Profiles: named variants of a topology that differ only in daemon settings, so one network
can be brought up once and run under several of them (hatestbed/provider.py retimes between them).

    "tuned"            the topology as written (the testbed's tuned timers)
    "stock"            keepalived's and HAProxy's default timers, to compare against
    "galera" | "semisync" | "async"   the topology with that database mode
    "leastconn"        HAProxy balancing by fewest connections (capacity_weighting)

    profile_order(topology)  the order a suite runs them in: tuned, the topology's own database
                             mode (the same topology: one testbed serves both), stock, the other
                             modes, leastconn
    timers_of(topology)      the timers a run used, for its results
"""

from __future__ import annotations

from topo.check_budget import check_timers
from topo.errors import BadInputError

# The daemons' stock defaults, against the testbed's tuned ones (the YAML values).
STOCK_TIMERS = {
    "keepalived": {"advert_int": 1.0, "scheduling": "auto"},
    "haproxy": {"check_inter_ms": 2000, "fastinter_ms": None, "fall": 3, "rise": 2, "error_limit": 0},
}
DB_MODES = ("galera", "semisync", "async")
LEASTCONN = "leastconn"
PROFILES = ("tuned", "stock") + DB_MODES + (LEASTCONN,)


def profile_order(topology) -> tuple[str, ...]:
    own = topology.services.mariadb.mode
    return ("tuned", own, "stock") + tuple(mode for mode in DB_MODES if mode != own) + (LEASTCONN,)


def _with_service(topology, daemon: str, update: dict):
    services = topology.services
    changed = getattr(services, daemon).model_copy(update=update)
    return topology.model_copy(update={"services": services.model_copy(update={daemon: changed})})


def with_timers(topology, profile: str):
    """The topology with `profile` applied ("tuned" returns it unchanged)."""
    if profile == "tuned":
        return topology
    if profile in DB_MODES:
        return _with_service(topology, "mariadb", {"mode": profile})
    if profile == LEASTCONN:
        return _with_service(topology, "haproxy", {"balance": "leastconn"})
    if profile != "stock":
        raise BadInputError(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    for daemon, update in STOCK_TIMERS.items():
        topology = _with_service(topology, daemon, update)
    return topology


def timers_of(topology) -> dict:
    """The timers a run used. HAProxy's check intervals are the effective ones (the configured
    ones stretched by the check budget, topo/check_budget.py; equal to them when not stretched),
    with the configured ones and the stretch beside them."""
    s = topology.services
    checks = check_timers(topology)
    return {"keepalived_advert_int_s": s.keepalived.advert_int, "keepalived_scheduling": s.keepalived.scheduling,
            "keepalived_preempt": s.keepalived.preempt,
            "haproxy_check_inter_ms": checks.inter_ms, "haproxy_fastinter_ms": checks.fastinter_ms,
            "haproxy_agent_inter_ms": checks.agent_inter_ms,
            "haproxy_check_stretch": round(checks.stretch, 3),
            "haproxy_configured_check_inter_ms": s.haproxy.check_inter_ms,
            "haproxy_configured_fastinter_ms": s.haproxy.fastinter_ms,
            "haproxy_configured_agent_inter_ms": s.haproxy.agent_inter_ms,
            "haproxy_check_budget_per_s": s.haproxy.check_budget_per_s,
            "haproxy_fall": s.haproxy.fall,
            "haproxy_rise": s.haproxy.rise, "haproxy_agent_check": s.haproxy.agent_check,
            "mariadb_mode": s.mariadb.mode}
