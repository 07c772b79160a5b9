"""HAProxy's health-check timers as they run: the configured ones, stretched when the checks of
every balancer against every server would exceed a budget of checks per second.

Every balancer checks every server (active and backup) itself, each check a new TCP connection,
a TLS handshake and GET /health, which costs the app a worker and a database round trip. The
load is balancers × servers ÷ interval, all of it on the same two cores as the servers:

    checks/s = balancers × servers × 1000 / inter_ms
       default      2    ×    3    × 1000 / 80   =    75/s   ≤ 250: as configured
       24 servers   2    ×   24    × 1000 / 80   =   600/s   came up healthy on the 2-core VM
       36 servers   2    ×   36    × 1000 / 80   =   900/s   HTTPS via the VIP failed
       48 servers   2    ×   48    × 1000 / 80   =  1200/s   (plus 480 agent checks/s)

    stretch = max(1, checks/s ÷ budget)                  budget: services.haproxy.check_budget_per_s
    inter, fastinter, agent-inter = configured × stretch, rounded up to whole ms

The budget (250/s by default) is about 40 % of the highest rate measured healthy: the rest of
what grows with the servers (exporters, scrapes, Galera's group traffic) and the experiments'
own traffic need the headroom. Up to 10 servers with two balancers nothing changes, so the
measured failover figures of the default topology stay true; at 48 servers checks run every
ceil(80 × 4.8) = 384 ms, fastinter 96 ms, agent-inter 960 ms.

One factor for all three keeps their proportions: the agent checks (plain TCP, cheaper) stay
at inter/agent-inter = 0.4 of the health-check rate, and fastinter, the pace at which a server
in transition is re-checked, cannot multiply the load beyond inter/fastinter × budget when
many servers fail at once (a database-wide hiccup fails every /health together). What a
stretch costs is detection time: a dead server is found within about inter + (fall-1) ×
fastinter, so ~0.5 s instead of ~0.1 s at 48 servers; passive checks (error_limit) still mark
a server DOWN on the first failed client connection, and a check still asks the app and its
database, so a dead app or a dead database is still found, only later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from topo.model import Topology


@dataclass(frozen=True)
class CheckTimers:
    """The intervals HAProxy is given (ms), and why."""
    inter_ms: int
    fastinter_ms: int | None
    agent_inter_ms: int
    stretch: float          # 1.0: as configured
    balancers: int
    servers: int            # servers checked by each balancer (active and backup)
    budget_per_s: int | None

    @property
    def checks_per_s(self) -> float:
        """Health checks per second across every balancer at the effective interval."""
        return self.balancers * self.servers * 1000 / self.inter_ms

    @property
    def stretched(self) -> bool:
        return self.stretch > 1.0

    def describe(self) -> str:
        """One line for the rendered configuration and the status table."""
        timers = f"inter {self.inter_ms}ms"
        if self.fastinter_ms:
            timers += f" fastinter {self.fastinter_ms}ms"
        timers += f" agent-inter {self.agent_inter_ms}ms"
        load = f"{self.balancers} balancers x {self.servers} servers = {self.checks_per_s:.0f} checks/s"
        if self.budget_per_s is None:
            return f"{timers}: as configured, no budget ({load})"
        if not self.stretched:
            return f"{timers}: as configured ({load}, budget {self.budget_per_s}/s)"
        return f"{timers}: configured x{self.stretch:.2f} ({load}, budget {self.budget_per_s}/s)"


def check_timers(topology: Topology) -> CheckTimers:
    """The effective health-check and agent-check intervals of this topology's balancers."""
    haproxy = topology.services.haproxy
    balancers = len(topology.hosts_with_role("lb"))
    servers = len(topology.hosts_with_role("server"))
    budget = haproxy.check_budget_per_s
    wanted = balancers * servers * 1000 / haproxy.check_inter_ms
    stretch = max(1.0, wanted / budget) if budget else 1.0

    def scaled(ms: int) -> int:
        return ms if stretch == 1.0 else math.ceil(ms * stretch)

    return CheckTimers(
        inter_ms=scaled(haproxy.check_inter_ms),
        fastinter_ms=scaled(haproxy.fastinter_ms) if haproxy.fastinter_ms else None,
        agent_inter_ms=scaled(haproxy.agent_inter_ms),
        stretch=stretch, balancers=balancers, servers=servers, budget_per_s=budget)
