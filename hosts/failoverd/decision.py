"""What the failover manager does next, from what it observed: a pure function, tested on
recorded states (tests/unit/test_failover_decision.py).

    observed = {"server1": None,                     # did not answer this round
                "server2": Seen(role="replica", io_running="Connecting", master="server1",
                                received="0-1-42", read_only=True),
                "server3": Seen(...)}
    decide("server1", failures=3, observed, rules) -> Decision("promote", "server2", ...)

Rules, in order (the first that applies wins):
  1. the primary answered                       → keep (and fence any other writable standalone)
  2. fewer than `fail_after` failed rounds       → wait (the detection timer is still running)
  3. no replica answers                          → stuck: nothing to promote
  4. a replica still streams from the primary    → wait: the primary is alive for it (only the
                                                   manager lost it); promoting would make two
  5. otherwise                                   → promote the replica that RECEIVED the most
                                                   (GTID sequence of domain 0; ties: server order)
                                                   and re-point every other answering replica
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seen:
    """One server as one round of checks saw it."""
    role: str                 # "primary" (writable, not replicating), "replica", "read-only standalone"
    read_only: bool
    io_running: str = ""      # replica: "Yes", "Connecting", "No"
    master: str = ""          # replica: the server it replicates from
    received: str = ""        # replica: Gtid_IO_Pos (what it received); primary: gtid_binlog_pos
    semisync: bool | None = None  # primary in semisync mode: still waiting for acknowledgements?


@dataclass(frozen=True)
class Decision:
    action: str               # keep | wait | stuck | promote
    reason: str
    new_primary: str = ""
    repoint: tuple[str, ...] = ()
    fence: tuple[str, ...] = field(default=())


def gtid_positions(position: str) -> dict[str, str]:
    """A GTID position like "0-1-42,1-3-7" by replication domain: {"0": "1-42", "1": "3-7"}."""
    return dict(gtid.strip().split("-", 1) for gtid in position.split(",") if gtid.strip())


def gtid_seq(position: str, domain: str = "0") -> int:
    """The sequence number of `domain` in a GTID position like "0-1-42,1-3-7" (0 if absent)."""
    server_seq = gtid_positions(position).get(domain)
    return int(server_seq.split("-")[1]) if server_seq else 0


def decide(primary: str, failures: int, observed: dict[str, Seen | None], fail_after: int) -> Decision:
    order = list(observed)
    if observed.get(primary) is not None:
        # A writable server that is neither the primary nor replicating is an old primary come
        # back (no fencing kept it down): make it read-only before anything writes there.
        fence = tuple(s for s in order if s != primary and observed[s] is not None
                      and observed[s].role == "primary")
        return Decision("keep", f"{primary} answers", fence=fence)
    if failures < fail_after:
        return Decision("wait", f"{primary} missed {failures} of {fail_after} checks")
    replicas = [s for s in order if s != primary and observed[s] is not None and observed[s].role == "replica"]
    if not replicas:
        return Decision("stuck", f"{primary} is lost and no replica answers: nothing to promote")
    streaming = [s for s in replicas if observed[s].io_running == "Yes" and observed[s].master == primary]
    if streaming:
        return Decision("wait", f"{primary} does not answer the manager, but {', '.join(streaming)} still "
                                "streams from it: not promoting a second primary")
    chosen = max(replicas, key=lambda s: (gtid_seq(observed[s].received), -order.index(s)))
    received = {s: gtid_seq(observed[s].received) for s in replicas}
    return Decision("promote", f"{primary} lost for {failures} checks; replicas received {received}",
                    new_primary=chosen, repoint=tuple(s for s in replicas if s != chosen))
