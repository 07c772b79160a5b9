"""Unit tests of the controller pair's role logic (controllers/roles.py) and heartbeat
(controllers/peer.py, against real UNIX sockets standing in for the peer's control channel)."""

from __future__ import annotations

import json
import socket
import threading
import time

from controllers.peer import PeerMonitor
from controllers.roles import GEN_MOD, MASTER, STANDBY, PeerWatch, RoleState, newer


def test_generation_ids_compare_by_their_signed_difference():
    assert newer(2, 1) and not newer(1, 2) and not newer(5, 5)
    assert newer(0, GEN_MOD - 1)  # wrapped: 0 comes after 2^64-1
    assert not newer(GEN_MOD - 1, 0)


def test_a_claim_is_newer_than_anything_seen_and_a_stale_master_steps_down():
    state = RoleState()
    assert state.role == STANDBY
    state.saw(7)
    state.saw(3)  # older: ignored
    assert state.claim() == 8 and state.role == MASTER and state.is_master
    state.step_down(12)  # a switch knows generation 12: someone claimed after us
    assert state.role == STANDBY and state.generation == 12
    assert state.claim() == 13 and state.claims == 2


def test_the_claim_wraps_at_64_bits():
    state = RoleState(generation=GEN_MOD - 1)
    assert state.claim() == 0
    assert newer(0, GEN_MOD - 1)


def test_a_closed_peer_is_gone_at_once_a_silent_one_after_its_misses():
    watch = PeerWatch(misses=3)
    assert not watch.beat(ok=True)
    assert watch.beat(ok=False, closed=True)
    assert not watch.beat(ok=True)  # it came back
    assert not watch.beat(ok=False) and not watch.beat(ok=False)
    assert watch.beat(ok=False)  # third silent heartbeat
    assert not watch.beat(ok=True)


class FakePeer:
    """A control socket answering {"op": "role"} like a MASTER instance; `freeze()` stops
    answering without closing, `kill()` closes everything (what the kernel does at exit)."""

    def __init__(self, path):
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        self.conns: list[socket.socket] = []
        self.frozen = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = conn.makefile("rb")
        try:
            for _line in reader:
                if not self.frozen.is_set():
                    conn.sendall(json.dumps({"ok": True, "role": MASTER, "generation": 4}).encode() + b"\n")
        except OSError:
            return

    def freeze(self):
        self.frozen.set()

    def kill(self):
        for conn in self.conns:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.server.close()


def watch(path, interval=0.05):
    beats = []
    monitor = PeerMonitor(str(path), lambda answer, gone, closed: beats.append((time.monotonic(), answer, gone, closed)),
                          interval=interval)
    return monitor, beats


def first_gone(beats, after):
    return next((t for t, _a, gone, _c in list(beats) if gone and t >= after), None)


def test_the_heartbeat_sees_a_dead_peer_within_milliseconds(tmp_path):
    peer = FakePeer(tmp_path / "peer.sock")
    monitor, beats = watch(tmp_path / "peer.sock")
    assert monitor.ask_once()["role"] == MASTER
    monitor.start()
    try:
        time.sleep(0.3)
        assert beats and all(a is not None and not gone for _t, a, gone, _c in beats)
        killed = time.monotonic()
        peer.kill()
        deadline = time.monotonic() + 2
        while first_gone(beats, killed) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        gone_at = first_gone(beats, killed)
        assert gone_at is not None and gone_at - killed < 0.04  # EOF, not a missed interval
        assert any(closed for t, _a, gone, closed in beats if gone and t >= killed)
    finally:
        monitor.stop()


def test_the_heartbeat_sees_a_hung_peer_after_three_silent_intervals(tmp_path):
    peer = FakePeer(tmp_path / "peer.sock")
    monitor, beats = watch(tmp_path / "peer.sock")
    monitor.start()
    try:
        time.sleep(0.2)
        frozen = time.monotonic()
        peer.freeze()
        deadline = time.monotonic() + 2
        while first_gone(beats, frozen) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        gone_at = first_gone(beats, frozen)
        assert gone_at is not None
        assert 2 * 0.05 <= gone_at - frozen <= 0.5  # three misses of 50 ms (plus scheduling)
        assert not any(closed for t, _a, gone, closed in beats if t >= frozen)
    finally:
        monitor.stop()
        peer.kill()


def test_no_peer_at_all_is_no_answer(tmp_path):
    monitor, _ = watch(tmp_path / "nobody.sock")
    assert monitor.ask_once(timeout=0.2) is None
