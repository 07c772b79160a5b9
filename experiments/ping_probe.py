"""A 1 ms ICMP stream: data-plane interruptions finer than an HTTPS probe can see.

    client2 ── ping -D -i 0.001 ──▶ lb1        every echo reply is printed with its receive time
                   │                            ([unix time] ... icmp_seq=N ...), one line each
                   └─▶ <run>/probes/<label>.ping

    gap(replies, t) = the longest silence between two consecutive replies around time t, and
                      the echo requests lost in it (missing sequence numbers)

Lost echoes are the data-plane measure (each stands for one interval of blackhole). The silence
also holds any stall of the pinging process or of OVS's userspace thread, visible as the high
RTT of the first replies after it.

An HTTPS request that meets a 3 ms cut is retransmitted by TCP and simply takes longer, so the
HTTPS probe reports "no failure" for a fast reroute; the reply times of a 1 ms ping stream
show the reroute itself, to about a millisecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from topo.errors import TestbedError

_REPLY = re.compile(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+)")


class PingProbeError(TestbedError):
    pass


@dataclass(frozen=True)
class Reply:
    seq: int
    t: float  # unix time the reply was received


def parse_replies(text: str) -> list[Reply]:
    """Echo replies from `ping -D` output (other lines, e.g. the summary, are skipped)."""
    replies = []
    for line in text.splitlines():
        match = _REPLY.match(line)
        if match and "bytes from" in line:
            replies.append(Reply(int(match.group(2)), float(match.group(1))))
    return replies


def gap(replies: list[Reply], fault_t: float, window: float = 5.0) -> dict:
    """The longest silence between consecutive replies from the last one before fault_t through
    those received in [fault_t, fault_t + window] to the first one after that window (so a
    silence that outlasts the window is measured whole), and the echo requests lost in it.

    gap_ms is the reply-to-reply interval, so an undisturbed 1 ms stream shows about 1 ms;
    lost counts the sequence numbers missing between the two replies."""
    ordered = sorted(replies, key=lambda r: r.t)
    before = [r for r in ordered if r.t < fault_t]
    after = [r for r in ordered if fault_t <= r.t <= fault_t + window]
    after += [r for r in ordered if r.t > fault_t + window][:1]
    if not before or not after:
        raise PingProbeError(f"no echo replies on both sides of the fault ({len(before)} before, {len(after)} after)")
    chain = [before[-1], *after]
    longest = max(zip(chain, chain[1:]), key=lambda pair: pair[1].t - pair[0].t)
    lost_in_window = sum(max(0, b.seq - a.seq - 1) for a, b in zip(chain, chain[1:]))
    return {"gap_ms": round((longest[1].t - longest[0].t) * 1000, 2),
            "lost": max(0, longest[1].seq - longest[0].seq - 1),
            "lost_in_window": lost_in_window,
            "replies_after": len(after)}


class PingProbe:
    """ping -D at a fixed interval from a client to an address, an owned process of the run."""

    def __init__(self, testbed, client: str, address: str, label: str, interval: float = 0.001,
                 duration: float = 30.0):
        self.testbed, self.client, self.address = testbed, client, address
        self.interval, self.duration = interval, duration
        self.path = testbed.run_dir.path / "probes" / f"{label}.ping"
        self.label = label
        self.proc = None

    def start(self) -> PingProbe:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # -w bounds the run even if nobody stops it; -W 1: a reply later than 1 s is lost.
        argv = ["stdbuf", "-oL", "ping", "-n", "-D", "-i", f"{self.interval:g}", "-W", "1", "-w", f"{self.duration:g}", self.address]
        self.proc = self.testbed.processes.start(f"ping-{self.label}", argv, node=self.testbed.net[self.client],
                                                 log=self.path)
        return self

    def replies(self) -> list[Reply]:
        try:
            return parse_replies(self.path.read_text())
        except FileNotFoundError:
            return []

    def stop(self) -> list[Reply]:
        if self.proc is not None:
            self.proc.stop(2.0)
        return self.replies()
