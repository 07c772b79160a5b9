"""The 1 ms ICMP stream's parser and gap measure (experiments/ping_probe.py), on ping -D text."""

import pytest

from experiments.ping_probe import PingProbeError, Reply, gap, parse_replies

OUTPUT = """PING 10.0.1.12 (10.0.1.12) 56(84) bytes of data.
[1796033565.100000] 64 bytes from 10.0.1.12: icmp_seq=1 ttl=64 time=0.31 ms
[1796033565.101000] 64 bytes from 10.0.1.12: icmp_seq=2 ttl=64 time=0.30 ms
[1796033565.118000] 64 bytes from 10.0.1.12: icmp_seq=5 ttl=64 time=5.90 ms
[1796033565.119000] 64 bytes from 10.0.1.12: icmp_seq=6 ttl=64 time=0.40 ms

--- 10.0.1.12 ping statistics ---
6 packets transmitted, 4 received, 33% packet loss, time 20ms
"""


def test_replies_are_parsed_with_their_receive_times():
    replies = parse_replies(OUTPUT)
    assert [r.seq for r in replies] == [1, 2, 5, 6]
    assert replies[2].t == pytest.approx(1796033565.118)


def test_the_gap_at_a_cut_counts_the_silence_and_the_lost_echoes():
    result = gap(parse_replies(OUTPUT), fault_t=1796033565.1015)
    assert result["gap_ms"] == pytest.approx(17.0)
    assert result["lost"] == 2 and result["lost_in_window"] == 2 and result["replies_after"] == 2


def test_no_reply_after_the_cut_is_an_error_not_a_zero():
    with pytest.raises(PingProbeError, match="no echo replies"):
        gap([Reply(1, 10.0), Reply(2, 10.001)], fault_t=10.5)


def test_a_silence_longer_than_the_window_is_measured_whole():
    replies = [Reply(1, 10.000), Reply(2, 10.001), Reply(3, 10.002), Reply(300, 12.0), Reply(301, 12.001)]
    result = gap(replies, fault_t=10.0015, window=0.3)
    assert result["gap_ms"] == pytest.approx(1998.0) and result["lost"] == 296
