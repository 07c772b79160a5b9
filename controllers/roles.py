"""Who is MASTER: OpenFlow 1.3 roles and generation ids for a pair of controller instances.

    switch s1..s4 ──tcp:6653── instance 1 (MASTER, generation g)   writes flows and groups
                  ──tcp:6654── instance 2 (SLAVE)                  reads: port-status, stats
                                  │  heartbeat every 100 ms on instance 1's control socket
                                  ▼  ({"op": "role"}); EOF or refused = gone at once,
                             3 silent heartbeats (300 ms) = hung
                             claims MASTER with generation g+1 on every switch

The switch keeps the highest generation id it was given and refuses a MASTER or SLAVE request
with an older one (OFPRRFC_STALE); a new MASTER turns the previous one into a SLAVE inside the
switch, so a hung master that wakes up later cannot write any more. Generation ids are compared
as the OpenFlow spec says, by the sign of their 64-bit difference (they may wrap).

At start an instance asks its peer's control socket once: a live peer means "stay SLAVE";
no peer (or none configured: single-controller mode) means "claim MASTER".

This module is plain logic (no os-ken, no sockets), unit-tested; controllers/app.py drives it
and controllers/peer.py feeds it the heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass

MASTER, STANDBY = "master", "standby"
GEN_MOD = 2 ** 64


def newer(a: int, b: int) -> bool:
    """Generation id a is newer than b (the 64-bit signed difference is positive)."""
    diff = (a - b) % GEN_MOD
    return 0 < diff < GEN_MOD // 2


@dataclass
class RoleState:
    """This instance's role and the newest generation id it has seen on any switch."""

    role: str = STANDBY
    generation: int = 0  # newest generation id seen (or claimed)
    claims: int = 0  # how many times this instance claimed MASTER

    def saw(self, generation: int) -> None:
        """A role reply from a switch carried this generation id."""
        if newer(generation, self.generation):
            self.generation = generation

    def claim(self) -> int:
        """Become MASTER: a generation id newer than any seen, to send to every switch."""
        self.generation = (self.generation + 1) % GEN_MOD
        self.role = MASTER
        self.claims += 1
        return self.generation

    def step_down(self, generation: int | None = None) -> None:
        """A switch said a newer master exists (stale generation, or refused a write)."""
        if generation is not None:
            self.saw(generation)
        self.role = STANDBY

    @property
    def is_master(self) -> bool:
        return self.role == MASTER


@dataclass
class PeerWatch:
    """The standby's view of the master's heartbeat. ``beat(ok, closed)`` after each attempt;
    True once the peer counts as gone: at once when its socket is closed or refused (the
    process died), after ``misses`` unanswered heartbeats when it is there but silent (hung)."""

    misses: int = 3
    silent: int = 0
    gone: bool = False

    def beat(self, ok: bool, closed: bool = False) -> bool:
        if ok:
            self.silent, self.gone = 0, False
            return False
        if closed:
            self.gone = True
        else:
            self.silent += 1
            self.gone = self.gone or self.silent >= self.misses
        return self.gone
