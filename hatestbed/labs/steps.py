"""Each lab's self-check steps: what the student records, and how this session's own journals
give the figure to grade it against (session.py). A measure returns a Measured, or a sentence
saying what the student has not done yet.

    lab 1  vip-holder        which balancer holds the VIP                 the VIP on an interface now
           backup-share      % of requests the passive server answers     probe rows, no fault in
    lab 2  vip-move-ms       crash the VIP holder: ms until the other     VRRP notify − the fault's
                             balancer is MASTER                           injection (board)
           failback          after heal, does the VIP go back?            a MASTER record of the healed one
           lost-requests     red marks of that failover                   failed probe rows around it
    lab 3  detect-ms         a server dies: ms until HAProxy marks it     HAProxy's DOWN − injection
           backup-answers    every active server down: does the passive   probe rows while they all were
                             one answer?
    lab 4  attack-moves-vip  does the attack move the VIP?                VRRP records during it
           attack-lost       requests lost during the attack              failed probe rows during it
    lab 5  site-down         the component you broke: did the site go     every probe row failed while
                             down (a SPOF, proved)?                       it was broken
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hatestbed.labs.session import Session, Window
from runtime.observe import vip_holders

MIN_ROWS = 40  # requests a share or an outage is judged on, at least
SETTLE_S = 5.0  # after a heal or an attack, wait this long before judging what followed


@dataclass(frozen=True)
class Measured:
    value: float | str
    at: float  # when it happened: a prediction recorded before this is a prediction
    how: str  # where the figure was read, for the verdict


@dataclass(frozen=True)
class Step:
    key: str
    ask: str
    how: str  # where a student reads it: on the page and in the CLI
    kind: str  # ms | count | percent | yesno | host
    measure: Callable[[Session], Measured | str]
    predict: bool = True


def host_of(address: str) -> str:
    """The host a fault address hits (node:, processes:, daemon:x@, link:host-switch), or ''."""
    kind, _, rest = address.partition(":")
    if kind in ("node", "processes"):
        return rest
    if kind == "daemon":
        return rest.partition("@")[2]
    if kind == "link":
        return rest.split("-")[0]
    return ""


# -- lab 1 --------------------------------------------------------------------------------------
def vip_holder(s: Session) -> Measured | str:
    holders = vip_holders(s.testbed)
    if len(holders) != 1:
        return f"the VIP is held by {len(holders)} balancers now: heal the faults first"
    return Measured(holders[0], s.started, "the balancer with the VIP on its interface now")


def backup_share(s: Session) -> Measured | str:
    backups = set(s.testbed.site.backup_servers)
    rows = [r for r in s.requests("dist") or s.requests() if r.ok and not s.faulted(r.sent)][-100:]
    if len(rows) < MIN_ROWS:
        return f"send requests with no fault injected (dist 100, or open the page): {len(rows)} so far"
    share = 100 * sum(1 for r in rows if r.served_by in backups) / len(rows)
    return Measured(round(share, 1), rows[0].sent, f"{len(rows)} requests with every server up")


# -- lab 2 --------------------------------------------------------------------------------------
def holder_crash(s: Session) -> tuple[Window, dict] | str:
    """The latest fault on a balancer that moved the VIP (a student who tries again is graded on
    the new try), and the other balancer's MASTER record."""
    lbs = set(s.testbed.site.lbs)
    for window in reversed(s.faults()):
        lb = host_of(window.address)
        if lb not in lbs:
            continue
        master = next((e for e in s.vrrp() if e["t"] >= window.start and e["host"] != lb
                       and e["state"] == "MASTER" and e["t"] - window.start < 10), None)
        if master:
            return window, master
    return "crash the balancer that holds the VIP (click it, or fail node:lb1)"


def vip_move_ms(s: Session) -> Measured | str:
    found = holder_crash(s)
    if isinstance(found, str):
        return found
    window, master = found
    ms = (master["t"] - window.start) * 1000
    return Measured(round(ms, 1), window.start, f"{window.address} injected, {master['host']} MASTER {ms:.0f} ms later")


def failback(s: Session) -> Measured | str:
    found = holder_crash(s)
    if isinstance(found, str):
        return found
    window, _ = found
    if window.end is None or s.now() < window.end + SETTLE_S:
        return f"heal {window.address} and wait {SETTLE_S:g} s"
    lb = host_of(window.address)
    back = any(e["host"] == lb and e["state"] == "MASTER" and window.end <= e["t"] <= window.end + SETTLE_S
               for e in s.vrrp())
    return Measured("yes" if back else "no", window.end, f"{lb} {'became' if back else 'did not become'} MASTER "
                                                        f"within {SETTLE_S:g} s of the heal")


def failed_rows(s: Session, start: float, end: float) -> tuple[list, str]:
    """Failed requests sent in [start, end], of the probe the student watched (the page's, else `probe`)."""
    for kind in ("dashboard", "probe"):
        rows = [r for r in s.requests(kind) if start <= r.sent <= end]
        if rows:
            return [r for r in rows if not r.ok], kind
    return [], ""


def lost_requests(s: Session) -> Measured | str:
    found = holder_crash(s)
    if isinstance(found, str):
        return found
    window, master = found
    failed, kind = failed_rows(s, window.start - 1.0, master["t"] + 1.0)
    if not kind:
        return "keep the page open (or run probe) while you crash the VIP holder"
    return Measured(len(failed), window.start, f"red marks of the {kind} probe around the failover")


# -- lab 3 --------------------------------------------------------------------------------------
def detect_ms(s: Session) -> Measured | str:
    actives = set(s.testbed.site.active_servers)
    downs = s.server_downs()
    for window in reversed(s.faults()):  # the latest try
        server = host_of(window.address)
        if server not in actives:
            continue
        seen = next(((t, lb) for t, lb, down in downs if down == server and window.start <= t < window.start + 30), None)
        if seen:
            ms = (seen[0] - window.start) * 1000
            return Measured(round(ms, 1), window.start, f"{window.address} injected, {seen[1]} saw {server} DOWN "
                                                        f"{ms:.0f} ms later")
    return "break an active server (click server1, or fail node:server1)"


def backup_answers(s: Session) -> Measured | str:
    actives, backups = set(s.testbed.site.active_servers), set(s.testbed.site.backup_servers)
    rows = [r for r in s.requests() if actives <= {host_of(a) for a in s.faulted(r.sent)}]
    if len(rows) < 5:
        return "fail every active server at once (node:server1 and node:server2), then send requests"
    answered = [r for r in rows if r.ok and r.served_by in backups]
    return Measured("yes" if answered else "no", rows[0].sent,
                    f"{len(answered)} of {len(rows)} requests answered by the passive server while every active one was down")


# -- lab 4 --------------------------------------------------------------------------------------
def last_attack(s: Session) -> Window | str:
    attacks = [w for w in s.faults() if w.address.startswith("attack:")]
    if not attacks:
        return "run an attack (click client2, or fail attack:garp)"
    window = attacks[-1]
    if window.end is None:
        return f"heal {window.address} once it has run"
    if s.now() < window.end + SETTLE_S:
        return f"wait {SETTLE_S:g} s after the attack"
    return window


def attack_moves_vip(s: Session) -> Measured | str:
    window = last_attack(s)
    if isinstance(window, str):
        return window
    moved = [e for e in s.vrrp() if window.start <= e["t"] <= window.end + 1 and e["state"] == "MASTER"]
    return Measured("yes" if moved else "no", window.start,
                    f"{len(moved)} MASTER record(s) during {window.address}")


def attack_lost(s: Session) -> Measured | str:
    window = last_attack(s)
    if isinstance(window, str):
        return window
    failed, kind = failed_rows(s, window.start, window.end)
    if not kind:
        return "keep the page open (or run probe) during the attack"
    return Measured(len(failed), window.start, f"failed requests of the {kind} probe during {window.address}")


# -- lab 5 --------------------------------------------------------------------------------------
def site_down(s: Session) -> Measured | str:
    faults = [w for w in s.faults() if w.end is not None]
    if not faults:
        return "break the component you think is a SPOF, with requests flowing, then heal it"
    window = faults[-1]
    rows = [r for r in s.requests() if window.start + 1.0 <= r.sent <= window.end]  # the first second: failover
    if len(rows) < 5:
        return f"send requests while {window.address} is broken (open the page, or dist 10)"
    down = not any(r.ok for r in rows)
    return Measured("yes" if down else "no", window.start,
                    f"{sum(1 for r in rows if r.ok)} of {len(rows)} requests answered while {window.address} was broken")


LABS: dict[int, tuple[str, list[Step]]] = {
    1: ("a tour of the design", [
        Step("vip-holder", "Which balancer holds the VIP?", "the Virtual IP panel; `vip`", "host", vip_holder,
             predict=False),
        Step("backup-share", "What share of requests (%) does the passive server answer when all are up?",
             "the strip chart's server rows; `dist 100`", "percent", backup_share),
    ]),
    2: ("the floating IP", [
        Step("vip-move-ms", "Crash the VIP holder: how many ms until the other balancer is MASTER?",
             "the timeline: `injected` and `MASTER` times; `vip`", "ms", vip_move_ms),
        Step("failback", "After the heal, does the VIP go back to the healed balancer (yes/no)?",
             "the Virtual IP panel after the heal; `vip`", "yesno", failback),
        Step("lost-requests", "How many requests did that failover lose?",
             "red marks in the strip chart; `probe`", "count", lost_requests),
    ]),
    3: ("health checks", [
        Step("detect-ms", "A server dies: how many ms until a balancer marks it DOWN?",
             "the timeline: `injected` and `sees ... DOWN`; `watch`", "ms", detect_ms),
        Step("backup-answers", "With every active server down, does the passive server answer (yes/no)?",
             "the strip chart's rows; `dist 10`", "yesno", backup_answers),
    ]),
    4: ("firewalls and attacks", [
        Step("attack-moves-vip", "Does the attack move the VIP (yes/no)?",
             "the timeline's VRRP lines; `vip`", "yesno", attack_moves_vip),
        Step("attack-lost", "How many requests did the attack cost?",
             "red marks in the strip chart; `probe`", "count", attack_lost),
    ]),
    5: ("SPOF hunting", [
        Step("site-down", "The component you broke last: did the site go down (yes: a SPOF)?",
             "the strip chart while it was broken; `dist 10`", "yesno", site_down),
    ]),
}
