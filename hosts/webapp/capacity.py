"""Idle capacity of one server's app, answered to HAProxy's agent-check.

    gunicorn master ─ BusyBoard: one shared byte per worker slot (anonymous shared mmap, made
    │                 before fork)                            ▲ set 1 / 0 around each request
    ├─ agent thread on <backend IP>:<ports.agent>             │ (pre_request / post_request hooks;
    │                                                         │  not for the LBs' /health checks)
    │    each connection gets "<free workers %>%\\n", e.g. "75%\\n",
    │    the mean over the last 0.5 s (a sampler thread reads the board every 10 ms)
    ├─ worker slot 0 ─────────────────────────────────────────┘
    ├─ worker slot 1 ...
    HAProxy sets the server's weight to that share of its configured weight.

Why free workers: every emulated host shares the same two CPUs, so "CPU idle" would say the same
for every server and nothing about one server. A sync gunicorn worker serves one request at a
time, so the share of workers not inside a request is exactly the capacity this server has left.

Why "1%" and never "0%" when every worker is busy: weight 0 takes a server out of rotation, and
if all servers are busy at once HAProxy would have none left (503s) although each will be free in
milliseconds. 1% keeps it eligible with the smallest share. (Taking a server out is the health
check's job, not the load report's.)

A worker that dies inside a request would leave its byte set: the master clears the slot when it
reaps the worker (child_exit), and a new worker gets the lowest free slot (pre_fork).
"""

from __future__ import annotations

import collections
import mmap
import socket
import threading
import time

SLOTS = 64  # = the model's maximum services.app.workers


AVERAGE_S = 0.5  # the agent answers the mean free share over this long...
SAMPLE_S = 0.01  # ...sampled this often


def agent_reply(busy: float, workers: int) -> str:
    """The agent-check answer: the share of free workers, at least 1%."""
    free = max(0.0, workers - busy)
    return f"{max(1, round(100 * free / workers))}%\n"


class BusyBoard:
    """One byte per worker slot in memory shared by the master and its forked workers."""

    def __init__(self, slots: int = SLOTS):
        self.slots = slots
        self._map = mmap.mmap(-1, slots)  # MAP_SHARED | MAP_ANONYMOUS: shared across fork

    def set(self, slot: int, busy: bool) -> None:
        self._map[slot] = 1 if busy else 0  # one writer per slot: no lock needed

    def busy(self) -> int:
        return sum(self._map[:self.slots])

    @staticmethod
    def free_slot(used: set[int]) -> int:
        for slot in range(SLOTS):
            if slot not in used:
                return slot
        raise RuntimeError(f"more than {SLOTS} workers")


class Agent:
    """A tiny TCP responder thread in the gunicorn master, and a sampler thread beside it.

    It answers the MEAN share of free workers over the last AVERAGE_S, not the count at the
    instant it is asked: a slow server's workers swing between all busy and all free from one
    request to the next, and an instantaneous answer made HAProxy set its weight to 1% and
    100% by turns (capacity_weighting showed the bang-bang: the slow server flooded whenever its
    weight came back, then starved). The mean is its utilisation, which settles the weight where
    the server keeps up. window_s=0: the instantaneous count.
    """

    def __init__(self, board: BusyBoard, workers: int, window_s: float = AVERAGE_S, sample_s: float = SAMPLE_S):
        self.board = board
        self.workers = workers
        self.sample_s = sample_s
        self.samples: collections.deque[int] | None = (
            collections.deque(maxlen=max(1, round(window_s / sample_s))) if window_s > 0 else None)
        self.sock: socket.socket | None = None

    def sample(self) -> None:
        if self.samples is not None:
            self.samples.append(self.board.busy())

    def busy(self) -> float:
        """Mean busy workers over the window (the board right now if there is no sample yet)."""
        samples = list(self.samples or ())
        return sum(samples) / len(samples) if samples else float(self.board.busy())

    def start(self, address: str, port: int) -> None:
        self.sock = socket.create_server((address, port), backlog=64)  # SO_REUSEADDR on Linux
        threading.Thread(target=self._serve, args=(self.sock,), name="agent", daemon=True).start()
        if self.samples is not None:
            threading.Thread(target=self._sample, name="agent-sampler", daemon=True).start()

    def _sample(self) -> None:
        while self.sock is not None:
            self.sample()
            time.sleep(self.sample_s)

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # closed
                return
            with conn:
                try:
                    conn.settimeout(1.0)
                    conn.sendall(agent_reply(self.busy(), self.workers).encode())
                except OSError:
                    pass

    def close_inherited(self) -> None:
        """In a forked worker: drop the inherited copy of the listening socket (the master keeps its own)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
