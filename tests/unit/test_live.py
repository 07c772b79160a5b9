"""The CLI's live lines from probe rows: rate, errors, who serves; the round-robin counts."""

from experiments.probes import Request
from hatestbed.live import distribution_lines, probe_line

T = 1000.0


def rows() -> list[Request]:
    out = [Request(i, T + i * 0.01, T + i * 0.01 + 0.005, 200, "", f"server{1 + i % 2}") for i in range(150)]
    out += [Request(150 + i, T + 1.5 + i * 0.01, T + 1.5 + i * 0.01 + 1.0, 0, "connect_timeout") for i in range(20)]
    return out


def test_probe_line_counts_the_last_second_and_names_the_server():
    line = probe_line(rows()[:150], now=T + 1.5, began=T)
    assert "1.5 s" in line and "100 req/s" in line and "errors 0" in line
    assert line.endswith("serving: server2")  # the last request answered (149: odd → server2)


def test_probe_line_during_an_outage_says_nobody_serves():
    line = probe_line(rows(), now=T + 2.7, began=T)
    assert "errors 20 (20 in the last second, last: connect_timeout)" in line
    assert line.endswith("serving: nobody")


def test_distribution_lines_mark_the_backup_and_count_failures():
    lines = distribution_lines(rows(), ["server1", "server2", "server3"], ["server3"])
    assert lines[0].split() == ["server1", "active", "75", "50.0", "%"]
    assert lines[2].split() == ["server3", "backup", "0", "0.0", "%"]
    assert lines[-1] == "170 requests, 150 served, 20 failed"
