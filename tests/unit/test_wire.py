"""The wire observer's reading of a capture: one row per connection, served at the VIP's first
data, and an empty capture an error."""

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from experiments import analysis
from experiments.wire import WireError, connections

VIP, CLIENT = "10.0.1.100", "10.0.1.10"


def packet(t, src, dst, sport, dport, flags, data=b""):
    p = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags) / (Raw(data) if data else b"")
    p = Ether(bytes(p))  # lengths filled in, as on the wire
    p.time = t
    return p


def test_connections_are_served_at_the_vips_first_data_and_failed_without_it(tmp_path):
    pcap = tmp_path / "c.pcap"
    wrpcap(str(pcap), [
        packet(10.000, CLIENT, VIP, 40001, 443, "S"),
        packet(10.002, VIP, CLIENT, 443, 40001, "SA"),
        packet(10.003, VIP, CLIENT, 443, 40001, "A"),            # no data yet
        packet(10.004, VIP, CLIENT, 443, 40001, "PA", b"\x16\x03\x03hello"),
        packet(10.009, CLIENT, VIP, 40001, 443, "RA"),            # answered: the client closes at once
        packet(10.010, CLIENT, VIP, 40002, 443, "S"),            # never answered
        packet(11.010, CLIENT, VIP, 40002, 443, "S"),            # its retransmission: same connection
        packet(10.500, CLIENT, VIP, 40003, 443, "S"),
        packet(10.509, VIP, CLIENT, 443, 40003, "PA", b"\x16\x03\x03hello"),
        packet(10.520, CLIENT, VIP, 40003, 443, "FA"),
        packet(10.600, CLIENT, VIP, 40004, 443, "S"),            # in flight as the crash came:
        packet(10.601, VIP, CLIENT, 443, 40004, "PA", b"\x16\x03\x03hello"),  # a hello from the old holder,
        packet(10.900, VIP, CLIENT, 443, 40004, "R"),            # a reset from the new one
        packet(11.500, CLIENT, VIP, 40005, 443, "S"),            # opened 0.5 s before the capture ended
    ])
    rows = connections(pcap, VIP, 443, timeout=1.0, ended=12.0)
    assert [(r.sent, r.ok, r.error) for r in rows] == [(10.0, True, ""), (10.01, False, "no_answer_from_vip"),
                                                       (10.5, True, ""), (10.6, False, "reset_by_vip")]
    assert rows[0].done == pytest.approx(10.004)
    outage = analysis.outage(rows[:3], fault_time=10.005)
    assert outage["outage_ms"] == pytest.approx(490.0) and outage["failed_requests"] == 1


def test_a_capture_without_a_connection_is_an_error(tmp_path):
    pcap = tmp_path / "empty.pcap"
    wrpcap(str(pcap), [packet(1.0, VIP, CLIENT, 443, 40001, "A")])
    with pytest.raises(WireError, match="no connection"):
        connections(pcap, VIP, 443, timeout=1.0)
