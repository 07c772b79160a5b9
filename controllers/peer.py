"""The heartbeat one controller instance keeps on its peer's control socket.

    instance 2 ──(one UNIX connection, kept open)──▶ instance 1's s/controller.sock
        every 100 ms: {"op": "role"}\\n  ──▶   ◀── {"ok": true, "role": "master", "generation": 7}
        between beats: wait for the socket to become readable; EOF means the peer process is
        gone (the kernel closes its sockets the moment it dies, even on SIGKILL)

Outcomes are fed to ``roles.PeerWatch``: a closed or refused connection counts at once, a
heartbeat unanswered within the interval counts as one miss (a hung peer: SIGSTOP, a stuck
event loop). ``on_beat(answer or None, gone, closed)`` is called after every attempt, from this
thread.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from typing import Callable

from controllers.control import ControlError, request
from controllers.roles import PeerWatch

HEARTBEAT_S = 0.1
MISSES = 3


class PeerMonitor:
    def __init__(self, path: str, on_beat: Callable[[dict | None, bool, bool], None], interval: float = HEARTBEAT_S,
                 misses: int = MISSES):
        self.path = path
        self.on_beat = on_beat
        self.interval = interval
        self.watch = PeerWatch(misses)
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._stop = threading.Event()

    def ask_once(self, timeout: float = 0.5) -> dict | None:
        """One heartbeat on a fresh connection, for the start-up decision: the answer or None."""
        try:
            answer = request(self.path, {"op": "role"}, timeout)
        except ControlError:
            return None
        return answer if answer.get("ok") else None

    def start(self) -> None:
        threading.Thread(target=self._run, name="peer-heartbeat", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            answer, closed = self._beat()
            # An answer followed by EOF is a peer that has just died: the EOF decides.
            gone = self.watch.beat(answer is not None and not closed, closed)
            self.on_beat(None if closed else answer, gone, closed)
            if closed:
                self._close()
                # Nothing to wait on: try a new connection after one interval (a restarted peer).
                self._stop.wait(self.interval)

    def _beat(self) -> tuple[dict | None, bool]:
        """(answer, closed): one heartbeat, then wait out the interval watching for EOF."""
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(self.path)
                self._buffer = b""
            self._sock.sendall(b'{"op": "role"}\n')
            answer = self._read_line(self.interval)
            if answer is None:
                return None, False  # silent: a miss
            # Sleep until the next beat, but wake at once if the peer closes the connection.
            readable, _, _ = select.select([self._sock], [], [], self.interval)
            if readable and not self._sock.recv(4096, socket.MSG_PEEK):
                return answer, True
            return answer, False
        except (OSError, ValueError, EOFError):
            return None, True

    def _read_line(self, timeout: float) -> dict | None:
        """The next answer line within `timeout`, None if it did not come; EOFError if closed."""
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([self._sock], [], [], timeout)
            if not readable:
                return None
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer = json.loads(line)
        return answer if isinstance(answer, dict) and answer.get("ok") else None

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
