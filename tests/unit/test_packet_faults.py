"""Packet construction of the Scapy attacks (nothing is sent): forged VRRPv3, gratuitous ARP,
seeded SYN bursts, RST sequence numbers from sniffed segments, and the scripts' bounds."""

import struct

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRPv3
from scapy.packet import Padding, Raw

from experiments.faults import scapy_attacks as sa
from experiments.packet_faults import _changes

VIP, CLIENT, LB2 = "10.0.1.100", "10.0.1.10", "10.0.1.13"
ATTACKER_MAC = "02:00:00:01:00:0b"


def ones_complement(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- VRRPv3 --------------------------------------------------------------------------------------------
def test_forged_vrrp_advert_fields():
    frame = sa.vrrp_advert(LB2, 51, 254, [VIP], 0.1, ATTACKER_MAC)
    assert frame[Ether].dst == "01:00:5e:00:00:12" and frame[Ether].src == ATTACKER_MAC
    ip = frame[IP]
    assert (ip.src, ip.dst, ip.ttl, ip.proto) == (LB2, "224.0.0.18", 255, 112)
    vrrp = frame[VRRPv3]
    assert (vrrp.version, vrrp.type, vrrp.vrid, vrrp.priority) == (3, 1, 51, 254)
    assert vrrp.ipcount == 1 and vrrp.addrlist == [VIP]
    assert vrrp.adv == 10  # centiseconds
    assert len(bytes(ip.payload)) == 12  # 8-byte header + one IPv4 address


def test_forged_unicast_vrrp_advert_goes_to_the_given_peer():
    """As keepalived's unicast_peer sends it: the peer's address and MAC, checksum still valid."""
    frame = sa.vrrp_advert("10.0.2.11", 51, 254, [VIP], 0.05, ATTACKER_MAC, "10.0.2.10", "02:00:00:02:00:0a")
    assert frame[Ether].dst == "02:00:00:02:00:0a"
    assert (frame[IP].src, frame[IP].dst, frame[IP].proto) == ("10.0.2.11", "10.0.2.10", 112)
    assert sa.vrrp_checksum_ok(frame)


def test_the_service_leg_attack_needs_unicast_adverts():
    import yaml
    from experiments.faults.attacks import ATTACKS
    from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology
    assert ATTACKS["vrrp_service_leg"].applies(load_topology()) is None
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"keepalived": {"adverts": "front-multicast"}}
    assert "unicast" in ATTACKS["vrrp_service_leg"].applies(parse_topology(data))
    assert ATTACKS["vrrp_spoofed_lb"].applies(parse_topology(data)) is None
    # the VRRP rows last: a VIP move's delayed gratuitous ARPs must not fall inside the GARP attack
    names = list(ATTACKS)
    assert names.index("garp") < min(i for i, n in enumerate(names) if n.startswith("vrrp"))


def test_forged_vrrp_checksum_is_rfc5798_with_pseudo_header():
    frame = sa.vrrp_advert(LB2, 51, 254, [VIP], 0.1, ATTACKER_MAC)
    assert sa.vrrp_checksum_ok(frame)
    # Recompute independently: IPv4 pseudo-header + VRRP message with the checksum zeroed.
    message = bytearray(bytes(frame[IP].payload))
    stored = struct.unpack("!H", message[6:8])[0]
    message[6:8] = b"\0\0"
    pseudo = (bytes(map(int, LB2.split("."))) + bytes([224, 0, 0, 18])
              + struct.pack("!BBH", 0, 112, len(message)))
    assert stored == ones_complement(pseudo + bytes(message))
    # A damaged checksum is detected.
    broken = Ether(bytes(frame))
    broken[VRRPv3].chksum ^= 0x0101
    assert not sa.vrrp_checksum_ok(Ether(bytes(broken)))


def test_vrrp_advert_depends_on_source_only_in_ip_and_checksum():
    own = sa.vrrp_advert("10.0.1.11", 51, 254, [VIP], 0.1, ATTACKER_MAC)
    spoofed = sa.vrrp_advert(LB2, 51, 254, [VIP], 0.1, ATTACKER_MAC)
    assert own[IP].src == "10.0.1.11" and spoofed[IP].src == LB2
    assert own[VRRPv3].chksum != spoofed[VRRPv3].chksum  # the pseudo-header includes the source
    assert sa.vrrp_checksum_ok(own) and sa.vrrp_checksum_ok(spoofed)


@pytest.mark.parametrize("advert_int", [0.001, 41.0])
def test_vrrp_advert_interval_must_fit_12_bits_of_centiseconds(advert_int):
    with pytest.raises(sa.AttackError):
        sa.vrrp_advert(LB2, 51, 254, [VIP], advert_int, ATTACKER_MAC)


# -- gratuitous ARP ------------------------------------------------------------------------------------
def test_garp_request_frame():
    frame = sa.garp_frame(VIP, ATTACKER_MAC)
    assert frame[Ether].dst == "ff:ff:ff:ff:ff:ff" and frame[Ether].src == ATTACKER_MAC
    arp = frame[ARP]
    assert arp.op == 1
    assert arp.psrc == arp.pdst == VIP
    assert arp.hwsrc == ATTACKER_MAC and arp.hwdst == "00:00:00:00:00:00"


def test_garp_reply_frame():
    arp = sa.garp_frame(VIP, ATTACKER_MAC, "reply")[ARP]
    assert arp.op == 2 and arp.psrc == arp.pdst == VIP and arp.hwdst == "ff:ff:ff:ff:ff:ff"
    with pytest.raises(sa.AttackError):
        sa.garp_frame(VIP, ATTACKER_MAC, "announce")


# -- SYN burst -----------------------------------------------------------------------------------------
def test_syn_plan_is_deterministic_for_a_seed():
    a = sa.syn_plan(2000, 7, ["10.0.1.11"])
    assert a == sa.syn_plan(2000, 7, ["10.0.1.11"])
    assert a != sa.syn_plan(2000, 8, ["10.0.1.11"])
    assert len(a) == 2000
    assert all(src == "10.0.1.11" and 1024 <= sport <= 65535 and 0 <= isn < 2 ** 32 for src, sport, isn in a)
    assert len({sport for _, sport, _ in a}) > 1500  # random ports, few repeats


def test_syn_plan_spoofed_sources_come_from_the_given_pool():
    pool = ["10.0.1.200", "10.0.1.201", "10.0.1.202"]
    plan = sa.syn_plan(300, 1, pool)
    assert {src for src, _, _ in plan} == set(pool)
    assert plan == sa.syn_plan(300, 1, pool)


def test_syn_frames_match_the_plan():
    plan = sa.syn_plan(50, 3, ["10.0.1.11"])
    frames = sa.syn_frames(plan, VIP, 443, ATTACKER_MAC, "02:00:00:01:00:0c")
    assert len(frames) == 50
    for wire, (src, sport, isn) in zip(frames, plan):
        pkt = Ether(wire)
        assert pkt[Ether].dst == "02:00:00:01:00:0c"
        assert (pkt[IP].src, pkt[IP].dst) == (src, VIP)
        assert (pkt[TCP].sport, pkt[TCP].dport, pkt[TCP].seq, str(pkt[TCP].flags)) == (sport, 443, isn, "S")
        again = pkt[IP].copy()
        del again[TCP].chksum
        assert IP(bytes(again))[TCP].chksum == pkt[TCP].chksum  # a valid TCP checksum


def test_syn_frames_are_the_bytes_scapy_builds_layer_by_layer():
    pool = ["10.0.1.11", "10.0.1.77"]
    plan = sa.syn_plan(200, 5, pool)
    frames = sa.syn_frames(plan, VIP, 443, ATTACKER_MAC, "02:00:00:01:00:0c")
    for wire, (src, sport, isn) in zip(frames, plan):
        built = (Ether(src=ATTACKER_MAC, dst="02:00:00:01:00:0c") / IP(src=src, dst=VIP, ttl=64)
                 / TCP(sport=sport, dport=443, flags="S", seq=isn, window=64240, options=[("MSS", 1460)]))
        assert wire == bytes(built)


# -- RST sequence numbers ------------------------------------------------------------------------------
def synack(seq=1000, ack=5001):
    return Ether(bytes(Ether() / IP(src=VIP, dst=CLIENT) / TCP(sport=443, dport=40000, flags="SA", seq=seq, ack=ack)))


def client_data(seq=5001, ack=1001, size=517):
    return Ether(bytes(Ether() / IP(src=CLIENT, dst=VIP) / TCP(sport=40000, dport=443, flags="PA", seq=seq, ack=ack)
                       / Raw(b"x" * size)))


def test_next_seq_counts_payload_syn_and_fin():
    assert sa.next_seq(synack(seq=1000)) == 1001
    assert sa.next_seq(client_data(seq=5001, size=517)) == 5518
    fin = IP(src=CLIENT, dst=VIP) / TCP(sport=40000, dport=443, flags="FA", seq=9, ack=1)
    assert sa.next_seq(fin) == 10
    wrap = IP(src=CLIENT, dst=VIP) / TCP(flags="PA", seq=2 ** 32 - 2) / Raw(b"abcd")
    assert sa.next_seq(wrap) == 2


def test_next_seq_ignores_ethernet_padding():
    ack = Ether(dst="02:00:00:01:00:0a") / IP(src=VIP, dst=CLIENT) / TCP(sport=443, dport=40000, flags="A", seq=77,
                                                                          ack=1)
    padded = Ether(bytes(ack) + b"\0" * 6)  # a 54-byte frame padded to the 60-byte minimum
    assert Padding in padded
    assert sa.next_seq(padded) == 77


def test_rst_to_the_receiver_spoofs_the_sender_with_its_next_seq():
    rst = sa.rst_for(synack(seq=1000), "receiver")
    assert (rst[IP].src, rst[IP].dst, rst[TCP].sport, rst[TCP].dport) == (VIP, CLIENT, 443, 40000)
    assert str(rst[TCP].flags) == "R" and rst[TCP].seq == 1001

    rst = sa.rst_for(client_data(seq=5001, size=517), "receiver")
    assert (rst[IP].src, rst[IP].dst, rst[TCP].sport, rst[TCP].dport) == (CLIENT, VIP, 40000, 443)
    assert rst[TCP].seq == 5518


def test_rst_to_the_sender_uses_the_segments_ack():
    rst = sa.rst_for(client_data(seq=5001, ack=1001), "sender")
    assert (rst[IP].src, rst[IP].dst, rst[TCP].sport, rst[TCP].dport) == (VIP, CLIENT, 443, 40000)
    assert rst[TCP].seq == 1001
    syn = IP(src=CLIENT, dst=VIP) / TCP(sport=40000, dport=443, flags="S", seq=5000)
    with pytest.raises(sa.AttackError):
        sa.rst_for(syn, "sender")


def test_planner_fires_once_per_connection_and_direction():
    planner = sa.RstPlanner(CLIENT, VIP, 443, ("to-client", "to-server"))
    syn = Ether(bytes(Ether() / IP(src=CLIENT, dst=VIP) / TCP(sport=40000, dport=443, flags="S", seq=5000)))
    assert planner.decide(syn) == []
    [(direction, rst)] = planner.decide(synack(seq=1000, ack=5001))
    assert direction == "to-client" and rst[IP].dst == CLIENT and rst[TCP].seq == 1001
    handshake_ack = Ether(bytes(Ether() / IP(src=CLIENT, dst=VIP) / TCP(sport=40000, dport=443, flags="A",
                                                                        seq=5001, ack=1001)))
    assert planner.decide(handshake_ack) == []  # no data: not a to-server trigger
    [(direction, rst)] = planner.decide(client_data(seq=5001, size=517))
    assert direction == "to-server" and rst[IP].dst == VIP and rst[TCP].seq == 5518
    assert planner.decide(client_data(seq=5518, size=100)) == []
    assert planner.decide(synack(seq=1000)) == []
    # Other connections and RSTs are not triggers; a second connection gets its own RSTs.
    other_port = Ether(bytes(Ether() / IP(src=VIP, dst=CLIENT) / TCP(sport=80, dport=40001, flags="SA")))
    assert planner.decide(other_port) == []
    reset = Ether(bytes(Ether() / IP(src=VIP, dst=CLIENT) / TCP(sport=443, dport=40002, flags="R", seq=3)))
    assert planner.decide(reset) == []
    second = Ether(bytes(Ether() / IP(src=VIP, dst=CLIENT) / TCP(sport=443, dport=40003, flags="SA", seq=9, ack=1)))
    assert [d for d, _ in planner.decide(second)] == ["to-client"]
    assert planner.connections == {40000, 40003}


def test_planner_single_direction():
    planner = sa.RstPlanner(CLIENT, VIP, 443, ("to-server",))
    assert planner.decide(synack()) == []
    assert [d for d, _ in planner.decide(client_data())] == ["to-server"]


# -- bounds of the command line ------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["synflood", "--iface", "c2-eth0", "--dst", VIP, "--seed", "1", "--count", "20000", "--report", "r.json"],
    ["synflood", "--iface", "c2-eth0", "--dst", VIP, "--seed", "1", "--rate", "100000", "--report", "r.json"],
    ["vrrp", "--iface", "c2-eth0", "--src", LB2, "--vrid", "51", "--vip", VIP, "--duration", "600", "--report", "r"],
    ["garp", "--iface", "c2-eth0", "--vip", VIP, "--interval", "0.001", "--report", "r.json"],
    ["rst", "--iface", "c1-eth0", "--vip", VIP, "--max-rsts", "0", "--report", "r.json"],
    ["rst", "--iface", "c1-eth0", "--vip", "not-an-address", "--report", "r.json"],
])
def test_unbounded_or_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        sa.parser().parse_args(argv)


def test_defaults_are_bounded():
    args = sa.parser().parse_args(["synflood", "--iface", "c2-eth0", "--dst", VIP, "--seed", "5", "--report", "r"])
    assert args.count <= sa.LIMITS["packets"] and args.duration <= sa.LIMITS["duration_s"]
    args = sa.parser().parse_args(["rst", "--iface", "c1-eth0", "--vip", VIP, "--report", "r"])
    assert args.direction == "both" and args.max_rsts == 50 and args.duration == 5.0


def test_main_refuses_the_root_namespace_or_a_missing_interface(tmp_path):
    out = tmp_path / "r.json"
    code = sa.main(["garp", "--iface", "no-such-if0", "--vip", VIP, "--count", "1", "--report", str(out)])
    assert code == 1
    import json

    report = json.loads(out.read_text())
    assert report["stopped_by"] == "error" and report["packets"] == [] and "AttackError" in report["error"]


def test_changes_keeps_first_and_transitions():
    series = [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "a")]
    assert _changes(series) == [(1, "a"), (3, "b"), (5, "a")]


def test_rst_capture_filter_lets_through_triggers_and_rsts_only():
    both = sa.rst_filter(CLIENT, VIP, 443, ("to-client", "to-server"))
    assert "tcp-rst" in both and "(tcp-syn|tcp-ack)" in both and "ip[2:2]" in both
    assert "(tcp-syn|tcp-ack)" not in sa.rst_filter(CLIENT, VIP, 443, ("to-server",))
    assert "ip[2:2]" not in sa.rst_filter(CLIENT, VIP, 443, ("to-client",))


@pytest.mark.skipif(not __import__("shutil").which("tcpdump"), reason="compiling BPF needs tcpdump or libpcap")
def test_rst_capture_filter_compiles():
    from scapy.arch.common import compile_filter

    assert compile_filter(sa.rst_filter(CLIENT, VIP, 443, ("to-client", "to-server")))


def test_how_long_the_last_forged_packet_hurt_is_read_from_the_requests():
    from experiments.packet_faults import served_again_after
    from experiments.probes import Request

    requests = [Request(0, 9.98, 9.99, 200), Request(1, 10.01, 10.5, 0, "tls"),
                Request(2, 10.2, 10.6, 0, "tls"), Request(3, 10.43, 10.44, 200), Request(4, 10.44, 10.45, 200)]
    assert served_again_after(requests, 10.0) == 430.0
    assert served_again_after(requests[:3], 10.0) is None  # never served again in the window
    assert served_again_after(requests[:1], 10.0) is None  # nothing sent after the last packet


class _Journal:
    """Records the steps an experiment opens (enough of experiments.journal for run_attack_undisturbed)."""

    def __init__(self):
        self.steps = []

    def step(self, what):
        import contextlib
        import types

        self.steps.append(what)
        return contextlib.nullcontext(types.SimpleNamespace(detail=None))


def _attempts(outcomes: list[dict]):
    """A PacketFaults whose attacks replay `outcomes` (one attempt's VRRP observations each)."""
    from experiments.packet_faults import PacketFaults

    experiment = PacketFaults.__new__(PacketFaults)
    experiment.journal = _Journal()
    experiment.wait_steady_state = lambda: {"steady": True}
    replay = iter(outcomes)
    attempts = []

    def run_attack(name, index, attempt=0):
        attempts.append(attempt)
        return {"attack": name, **next(replay)}

    experiment.run_attack = run_attack
    import experiments.packet_faults as pf
    return experiment, attempts, pf


def _vrrp(before=(), during=(), forged_heard=False, timeout=False) -> dict:
    """One attempt's VRRP observations: changes before the first packet and during the attack,
    and what keepalived's log said (on lb2)."""
    return {"vrrp_changes_before_first_packet": list(before), "vrrp_events": list(during),
            "keepalived_log": {"lb1": {"forged_advert_heard": False, "advert_timeout": False},
                               "lb2": {"forged_advert_heard": forged_heard, "advert_timeout": timeout}}}


FLAP = [{"t_ms": -222, "host": "lb2", "state": "MASTER"}, {"t_ms": -217, "host": "lb2", "state": "BACKUP"}]
FLAP_DURING = [{"t_ms": 788, "host": "lb2", "state": "MASTER"}, {"t_ms": 802, "host": "lb2", "state": "BACKUP"}]


def test_an_attack_is_run_again_when_vrrp_moved_before_its_first_packet(monkeypatch):
    experiment, attempts, pf = _attempts([_vrrp(before=FLAP), _vrrp()])
    monkeypatch.setattr(pf, "describe", lambda a: "lb2 MASTER then BACKUP")
    result = experiment.run_attack_undisturbed("vrrp_spoofed_lb", 0)
    assert attempts == [0, 1] and result["vrrp_changes_before_first_packet"] == []
    [disturbed] = result["disturbed_attempts"]
    assert disturbed["vrrp_changes_before_first_packet"] == FLAP and "before the attack's first packet" in disturbed["why"]
    assert disturbed["what_happened"] == "lb2 MASTER then BACKUP"
    assert "trial 0: steady state before vrrp_spoofed_lb again" in experiment.journal.steps


def test_a_takeover_by_missed_adverts_that_heard_no_forged_advert_is_not_the_attacks(monkeypatch):
    """As in a CI run: lb2 missed lb1's adverts 788 ms into vrrp_own_source (whose adverts no
    balancer hears) and held the VIP for 14 ms; the attack was charged 52 failed requests."""
    experiment, attempts, pf = _attempts([_vrrp(during=FLAP_DURING, timeout=True), _vrrp()])
    monkeypatch.setattr(pf, "describe", lambda a: "flap")
    result = experiment.run_attack_undisturbed("vrrp_own_source", 0)
    assert attempts == [0, 1] and result["vrrp_events"] == []
    assert "the site moved by itself" in result["disturbed_attempts"][0]["why"]


def test_a_vrrp_change_the_attack_may_have_caused_stands(monkeypatch):
    # A forged advert heard: the attack's doing. A SYN flood's load delaying adverts: its doing too.
    for name, outcome in (("vrrp_spoofed_lb", _vrrp(during=FLAP_DURING, forged_heard=True, timeout=True)),
                          ("synflood", _vrrp(during=FLAP_DURING, timeout=True)),
                          ("vrrp_own_source", _vrrp(during=FLAP_DURING))):
        experiment, attempts, pf = _attempts([outcome])
        result = experiment.run_attack_undisturbed(name, 0)
        assert attempts == [0] and result["disturbed_attempts"] == [] and result["vrrp_events"] == FLAP_DURING, name


def test_a_site_that_never_keeps_still_is_judged_on_its_last_attempt(monkeypatch):
    experiment, attempts, pf = _attempts([_vrrp(before=FLAP)] * 3)
    monkeypatch.setattr(pf, "describe", lambda a: "flap")
    result = experiment.run_attack_undisturbed("garp", 1)
    assert attempts == [0, 1, 2] and len(result["disturbed_attempts"]) == 2
    assert result["vrrp_changes_before_first_packet"] == FLAP  # the last attempt stands, flap and all
