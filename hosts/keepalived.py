"""keepalived on every load balancer: VRRPv3 moves the VIP to a balancer whose HAProxy is alive.

                internet side (VIP network): the VIP and its gratuitous ARPs only
                   │ lb1-eth0: VIP 10.0.1.100/24 while MASTER      │ lb2-eth0
        lb1 (priority 253)                                    lb2 (priority 252)
   ┌──────────────────────────────┐   VRRPv3 adverts     ┌──────────────────────────────┐
   │ keepalived ── lb1-eth1 ──────┼── unicast, IP 112 ───┼────── lb2-eth1 ── keepalived │
   │   │ 10.0.2.10                │   every advert_int   │   10.0.2.11 (takes the VIP   │
   │   │                          │   service network    │   when lb1's adverts stop)   │
   │   ├─ track: <conf>/keepalived-check.sh: lb1's HAProxy pid (pids/lb1-haproxy.pid)
   │   ├─ track: <conf>/keepalived-servers.sh: lb1's HAProxy has a server UP (its stats CSV)
   │   ├─ track_interface: both legs (either losing carrier: FAULT, the peer takes over)
   │   └─ notify: <conf>/keepalived-notify.sh ──▶ logs/vrrp-events.jsonl (one JSON line per change)
   └──────────────────────────────┘

services.keepalived.adverts: service-unicast (above, the default: the firewall drops VRRP on the
internet-facing interface and accepts it on the service side only from the other balancers'
addresses; a lone balancer has no peer and holds the VIP for good) or front-multicast (adverts to 224.0.0.18 on the VIP's network, where a forged advert
from the internet side can take the VIP: the exposed design, kept for the lesson). VRRPv3 has no
authentication either way: only the fabric's edge guards (controllers/guards.py) stop a host that
reaches the service network from forging a peer's advert.

Behaviour:
- Both balancers start in BACKUP, the first LB (the highest priority) first: the others start
  once it has entered BACKUP, ~1 s behind it, so its master-down timer always ends first; it
  becomes master and they stay BACKUP (stage 5, then 5.5).
- preempt false (the default): `nopreempt` on every balancer. A recovered lb1 does NOT take the
  VIP back from lb2; it stays BACKUP until lb2 fails. preempt true: the highest priority always
  takes the VIP back when it is healthy again (a second, short outage).
- The track script fails when this host's HAProxy pid is gone (or a zombie): the instance goes to
  FAULT, drops the VIP and stops advertising (a master leaving sends a priority-0 advert, so the
  peer takes over at once rather than after 3 × advert_int). FAULT works with and without
  preemption, unlike a priority weight.
- The second track script (services.keepalived.track_servers, on by default) fails when this
  host's HAProxy has no server UP: after SERVERS_FALL runs in a row (2-3 s), FAULT too, so a
  balancer that can serve nothing gives the VIP to one that can. Without it, cutting a balancer
  off from every healthy server (its service leg isolated with a Galera minority) left it
  MASTER beside the other in a split brain, and clients followed whichever announced the VIP
  last (the SPOF sweep, README). With FAULT at the first failed run, a Galera view change (no
  server UP anywhere for ~1 s) dropped the VIP on both balancers and made every one-server
  crash longer. When every server stays down, the VIP is held by nobody until one is UP again
  (up to a second more than the checks alone).
- keepalived 2.2.7 refuses fractional vrrp_script intervals ("must be between 1 and 4294"), so
  the script runs every second and polls the pid every `check_interval` inside one run (~0.85 s,
  ending before keepalived's next start). Detection is within ~check_interval (+ one ~0.15 s gap
  between runs). An instance leaves its initial state only when the first run answers, so the
  first run after a start checks once and answers at once (FIRST_RUN_CS): BACKUP comes right
  after start, not ~1 s later (and ~1-2 s after a dead HAProxy is back).
- after_ready() waits until exactly one balancer reports MASTER, so nothing uses the VIP before
  it is held.
- Sub-second adverts are sensitive to delays in the userspace switch: a backup that hears no
  advert for 3 × advert_int + skew (0.34-0.36 s at 0.1 s) takes the VIP; with two masters the
  lower priority yields at the next advert. Seen (adverts 0.3-0.7 s late in captures on both
  balancers) while other testbeds loaded the same 2-core machine and its one ovs-vswitchd.
  scheduling "realtime" (the default) runs the VRRP process SCHED_RR from the start: with both
  cores saturated, 10 ms adverts then moved the VIP 0 times in 2 minutes (1 time without it),
  but still twice in 10 minutes, the adverts late in the fabric; 20 ms: 0 in 10 minutes
  (experiments/timer_sweep.py, README "The timer frontier").
- Every state change (MASTER, BACKUP, FAULT, STOP) is one JSON line
  {"t": unix time (ns digits), "host", "state", "instance", "priority", "vip"} appended to
  site.vrrp_events, shared by all balancers (single O_APPEND writes).

Every path is per host: config, scripts, `-p/-r/-c` pid files. keepalived runs in the foreground
(`-n`), logs to the console (`-l -D`, the manager's log file) and not to syslog (`-G`), VRRP only.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from hosts.daemon import Daemon, ServiceError, render
from hosts.haproxy import BACKEND
from runtime import observe
from runtime.jsonl import read_jsonl
from runtime.wait import NotReadyError, wait_until


# Notify records of one host closer than this have no reliable order (see all_events).
SAME_INSTANT_S = 0.005


# Runs of the server track script (one a second) that must find no server UP before FAULT: longer
# than the ~1 s a Galera view change leaves every server DOWN, shorter than a hold of the sweep.
SERVERS_FALL = 3

# The HAProxy track script's first run after keepalived starts answers after one check (a run
# polls for most of a second otherwise, and the instance enters BACKUP only once it answers):
# a run begun within this many centiseconds of the VRRP process's start. The script compares
# /proc/uptime (centiseconds) with the process's start time (clock ticks): with ticks of another
# length the shortcut is left out.
FIRST_RUN_CS = 50 if os.sysconf("SC_CLK_TCK") == 100 else 0


class Keepalived(Daemon):
    name = "keepalived"
    # Its track script follows HAProxy's pid: HAProxy restarted under it (a retime that changes
    # only HAProxy's files, e.g. `balance leastconn`) is a dead HAProxy for one poll, so the
    # balancer went FAULT and the VIP moved, ~2 s AFTER the retime had returned (once met by lab
    # 2's `fail node:lb1`: nobody took the VIP). Restarted too, it elects one master afresh
    # before the retime returns, as at bring-up.
    restarts_with = ("haproxy",)
    # On TERM keepalived sends its priority-0 advert, removes the VIP and runs its STOP notify at
    # once (milliseconds), then waits a fixed second before exiting "to help an IGMP leave go out"
    # (vrrp_terminate_phase1 in keepalived's vrrp_daemon.c; not configurable). Nothing here needs
    # that leave: the testbed stops or the balancer's keepalived restarts (a retime) after 0.5 s.
    teardown_grace = 0.5
    binary = "keepalived"
    package = "keepalived"
    ready_timeout = 10.0

    def __init__(self, site, host):
        super().__init__(site, host)
        self._started_at = 0.0

    @property
    def config_path(self) -> Path:
        return self.conf_path("keepalived.conf")

    @property
    def check_script(self) -> Path:
        return self.conf_path("keepalived-check.sh")

    @property
    def servers_script(self) -> Path | None:
        """The track script that asks HAProxy for a server UP (None: services.keepalived.track_servers off)."""
        return self.conf_path("keepalived-servers.sh") if self.site.services.keepalived.track_servers else None

    @property
    def notify_script(self) -> Path:
        return self.conf_path("keepalived-notify.sh")

    @property
    def interface(self) -> str:
        """The front (VIP) interface: the VIP and its gratuitous ARPs go there."""
        return self.site.interface(self.host, self.site.vip_network)

    @property
    def unicast(self) -> bool:
        return self.site.services.keepalived.unicast

    @property
    def advert_network(self) -> str:
        return self.site.backend_network if self.unicast else self.site.vip_network

    @property
    def advert_interface(self) -> str:
        return self.site.interface(self.host, self.advert_network)

    def peer_addresses(self) -> list[str]:
        """The other balancers' addresses on the advert network (unicast peers)."""
        return [str(self.site.plan.address(lb, self.advert_network)) for lb in self.site.lbs if lb != self.host]

    @property
    def stage(self) -> float:
        """5 for the first balancer, 5.5 for the others: they start once it is counting down to
        MASTER, about a second ahead of theirs.

        Started together, the first whose master-down timer ran out would win, and with
        nopreempt keep the VIP: a start a few ms earlier outweighs the priorities' skew (0.04 ms
        apart at 20 ms adverts), and lb2 was seen MASTER after bring-up. The design says lb1."""
        return 5 if self.host == self.site.lbs[0] else 5.5

    @property
    def priority(self) -> int:
        return self.site.services.keepalived.priorities[self.site.lbs.index(self.host)]

    def pidfiles(self) -> dict[str, Path]:
        return {role: self.site.pidfile(self.host, f"keepalived-{role}") for role in ("main", "vrrp", "checkers")}

    # -- pure -------------------------------------------------------------------------------------
    def script_timing(self) -> tuple[int, int, float]:
        """(keepalived interval s, budget of one run in centiseconds, poll interval s).

        A run polls until `budget` and must end before keepalived's next start, which would
        otherwise be skipped ("already running"): leave one poll interval and 50 ms of slack.
        """
        poll = self.site.services.keepalived.check_interval
        interval = max(1, math.ceil(poll))
        budget_cs = max(0, int(round((interval - poll - 0.05) * 100)))
        return interval, budget_cs, poll

    def files(self) -> dict[Path, str]:
        site = self.site
        interval, budget_cs, poll = self.script_timing()
        conf = render("keepalived.conf.j2", host=self.host, vip=site.vip,
                      prefixlen=site.prefixlen(site.vip_network), interface=self.interface,
                      advert_interface=self.advert_interface, unicast=self.unicast,
                      unicast_src=site.plan.address(self.host, self.advert_network), peers=self.peer_addresses(),
                      ka=site.services.keepalived, priority=self.priority,
                      check_script=self.check_script, servers_script=self.servers_script,
                      servers_fall=SERVERS_FALL,
                      notify_script=self.notify_script,
                      events=site.vrrp_events, script_interval=interval, script_timeout=interval + 1)
        check = render("keepalived-check.sh.j2", host=self.host, pidfile=site.pidfile(self.host, "haproxy"),
                       poll_interval=f"{poll:g}", budget_cs=budget_cs, first_run_cs=FIRST_RUN_CS)
        notify = render("keepalived-notify.sh.j2", host=self.host, vip=site.vip, events=site.vrrp_events)
        files = {self.config_path: conf, self.check_script: check, self.notify_script: notify}
        if self.servers_script:
            files[self.servers_script] = render(
                "keepalived-servers.sh.j2", host=self.host, backend=BACKEND, metrics_ip=site.backend_ip(self.host),
                metrics_port=site.services.ports.haproxy_metrics, timeout_s=f"{min(0.5, interval / 2):g}")
        return files

    def check_command(self) -> list[str]:
        return ["keepalived", "-t", "-f", str(self.config_path)]

    def command(self) -> list[str]:
        pids = self.pidfiles()
        return ["keepalived", "-n", "-l", "-D", "-G", "--vrrp", "-f", str(self.config_path),
                "-p", str(pids["main"]), "-r", str(pids["vrrp"]), "-c", str(pids["checkers"])]

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        for path in self.pidfiles().values():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # keepalived refuses to start over a live-looking pid file
        self.site.vrrp_events.parent.mkdir(parents=True, exist_ok=True)
        # enable_script_security: the scripts must not be writable by anyone but root.
        for script in (self.check_script, self.servers_script, self.notify_script):
            if script is not None and script.exists():
                script.chmod(0o755)
        self._started_at = time.time()

    def all_events(self) -> list[dict]:
        """Every balancer's VRRP state changes, oldest first (unreadable lines skipped).

        Each change runs its own notify script, which takes its own time: two changes of one
        host a millisecond apart can be recorded in either order, by line and by time. Seen at
        start-up with 20 ms adverts: both balancers time out together, lb2 enters MASTER and
        yields to lb1's first advert 1.4 ms later. So events are ordered by time, and of two
        events of one host closer than SAME_INSTANT_S a MASTER is taken to come first: a
        balancer stays MASTER for at least one advert interval (10 ms or more) unless it yields
        to the first advert it hears, while BACKUP → MASTER always waits a master-down timer."""
        events = sorted(read_jsonl(self.site.vrrp_events), key=lambda e: e.get("t", 0))
        for i in range(1, len(events)):
            before, after = events[i - 1], events[i]
            if (before.get("host") == after.get("host") and after.get("state") == "MASTER"
                    and after.get("t", 0) - before.get("t", 0) < SAME_INSTANT_S):
                events[i - 1], events[i] = after, before
        return events

    def events(self) -> list[dict]:
        """This host's VRRP state changes, oldest first."""
        return [e for e in self.all_events() if e.get("host") == self.host]

    def state(self) -> str | None:
        """The last state this host's notify script reported since the last start, or None."""
        recent = [e for e in self.events() if e["t"] >= self._started_at]
        return recent[-1]["state"] if recent else None

    def master(self) -> str | None:
        """The one balancer whose latest reported state is MASTER, else None (none, or several).

        From the notify lines: a keepalived killed with SIGKILL reports nothing more, so use
        has_vip() on each balancer for the kernel's truth."""
        latest = {e.get("host"): e.get("state") for e in self.all_events()}
        masters = [host for host, state in latest.items() if state == "MASTER"]
        return masters[0] if len(masters) == 1 else None

    def has_vip(self, node) -> bool:
        return observe.has_vip(node, self.site.plan)

    def is_ready(self, node) -> bool:
        # Alive (the manager checks the process) and it has entered a state: a notify line of
        # this start, or the VIP on its interface.
        return self.state() is not None or self.has_vip(node)

    def after_ready(self, node) -> None:
        # Every balancer of the stage has a state: the election must now give the VIP to exactly
        # one (BACKUP → MASTER after 3 × advert_int + skew), before anything uses the VIP.
        if self.host == self.site.lbs[0] and len(self.site.lbs) > 1:
            # The first balancer is BACKUP and counting down; the others may start now: each
            # enters BACKUP only once started (its first track script run answers), so its own
            # count-down ends after the first's. They wait for the master (stage 5.5).
            return
        advert = self.site.services.keepalived.advert_int
        timeout = max(5.0, 4 * advert + 3.0)
        try:
            wait_until(lambda: self.master() is not None, timeout, "one VRRP master elected (the VIP held)")
        except NotReadyError as exc:
            raise ServiceError(f"{self.label}: {exc}; see {self.log_path} and {self.site.vrrp_events}") from None

    def status(self, node) -> str:
        state = self.state() or "no state reported"
        vip = f", holds VIP {self.site.vip}" if self.has_vip(node) else ""
        return f"{state}{vip}, priority {self.priority}"
