"""Metric math on synthetic probe timelines (outage edges, distribution statistics, summaries), and the
probe client itself against an HTTPS server on loopback (schedule, rows, error kinds, SIGTERM)."""

import datetime
import http.server
import json
import math
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from experiments.analysis import (achieved_interval, delay_ms, distribution, first_after, latencies_ms, outage,
                                  summarize)
from experiments.probes import ProbeError, Request, RequestLog, read_requests
from experiments.report import write_requests_csv
from tests.http_stub import reply

T0 = 1_700_000_000.0
STEP = 0.01  # a 10 ms probe
PROBE_CLIENT = Path(__file__).resolve().parents[2] / "experiments" / "probe_client.py"


def timeline(pattern: str, latency: float = 0.002, timeout: float = 1.0) -> list[Request]:
    """One request per character, sent every STEP: '.' ok, 'x' failed by timeout, 'r' refused at once."""
    rows = []
    for i, c in enumerate(pattern):
        sent = T0 + i * STEP
        if c == ".":
            rows.append(Request(i, sent, sent + latency, 200, "", "server1" if i % 2 else "server2"))
        elif c == "x":
            rows.append(Request(i, sent, sent + timeout, 0, "connect_timeout"))
        elif c == "r":
            rows.append(Request(i, sent, sent + latency, 0, "connect_refused"))
        else:
            raise ValueError(c)
    return rows


def at(i: int) -> float:
    return T0 + i * STEP


def test_clean_outage():
    reqs = timeline("." * 10 + "r" * 20 + "." * 10)
    o = outage(reqs, fault_time=at(10) - 0.001)
    assert not o["no_failure"] and not o["not_recovered"]
    assert o["first_failure_t"] == at(10)
    assert o["last_failure_t"] == at(29)
    assert o["recovered_t"] == at(30)
    assert o["outage_ms"] == pytest.approx(200.0)
    assert o["failed_requests"] == 20
    assert o["bursts"] == 1
    assert o["errors"] == {"connect_refused": 20}
    assert o["in_flight_at_fault"] == 0
    assert o["recovery_ms"] == pytest.approx(201.0)
    assert o["probe_spacing_ms"] == pytest.approx(10.0)  # the grid the 200 ms is read on


def test_the_outage_states_the_spacing_the_probe_achieved():
    reqs = timeline("." * 10 + "r" * 5 + "." * 10)
    late = [Request(r.seq, T0 + (r.sent - T0) * 3, T0 + (r.sent - T0) * 3 + 0.002, r.status, r.error, r.served_by)
            for r in reqs]  # a probe that kept only a third of its schedule: 30 ms apart
    o = outage(late, fault_time=T0 + 0.3 - 0.001)
    assert o["probe_spacing_ms"] == pytest.approx(30.0) and o["outage_ms"] == pytest.approx(150.0, abs=0.01)


def test_no_failure():
    o = outage(timeline("." * 50), fault_time=at(20))
    assert o["no_failure"] and not o["not_recovered"]
    assert o["outage_ms"] == 0 and o["failed_requests"] == 0
    assert o["first_failure_t"] is None and o["recovered_t"] is None


def test_failure_before_the_fault_is_not_counted():
    # A refusal that completed before the fault is someone else's problem.
    o = outage(timeline("..r" + "." * 30), fault_time=at(10))
    assert o["no_failure"]


def test_not_recovered_at_the_end_of_the_window():
    reqs = timeline("." * 20 + "r" * 10)
    o = outage(reqs, fault_time=at(20))
    assert o["not_recovered"] and not o["no_failure"]
    assert o["recovered_t"] is None
    assert o["outage_ms"] == pytest.approx(90.0)  # first failure → last request sent (a lower bound)
    assert o["failed_requests"] == 10


def test_in_flight_requests_at_the_fault():
    # Requests 8 and 9 hang until their timeout: they were in flight when the fault hit at 9.5.
    reqs = timeline("." * 8 + "xx" + "r" * 5 + "." * 10)
    fault = at(9) + 0.005
    o = outage(reqs, fault_time=fault)
    assert o["in_flight_at_fault"] == 2 and o["in_flight_failed"] == 2
    assert o["first_failure_t"] == at(8)  # in flight and failed by the fault: the window opens at its send
    assert o["recovered_t"] == at(15)
    assert o["failed_requests"] == 7
    assert o["outage_ms"] == pytest.approx(70.0)
    assert o["recovery_ms"] == pytest.approx(55.0)


def test_in_flight_success_is_not_an_outage():
    reqs = timeline("." * 30, latency=0.05)  # every request spans several send slots
    o = outage(reqs, fault_time=at(10) + 0.001)
    assert o["no_failure"]
    assert o["in_flight_at_fault"] == 5 and o["in_flight_failed"] == 0


def test_isolated_single_failure():
    reqs = timeline("." * 10 + "r" + "." * 10)
    o = outage(reqs, fault_time=at(5))
    assert o["failed_requests"] == 1 and o["bursts"] == 1
    assert o["outage_ms"] == pytest.approx(10.0)  # one probe interval: the resolution
    assert not o["not_recovered"]


def test_flapping_counts_bursts_and_every_failure():
    reqs = timeline("....rrr..rr....")
    o = outage(reqs, fault_time=at(4))
    assert o["bursts"] == 2
    assert o["failed_requests"] == 5
    assert o["outage_ms"] == pytest.approx(70.0)


def test_unsorted_input_and_http_errors():
    reqs = timeline("....")
    reqs.append(Request(4, at(4), at(4) + 0.01, 503, "http_5xx"))
    reqs.append(Request(5, at(5), at(5) + 0.002, 200, "", "server1"))
    o = outage(list(reversed(reqs)), fault_time=at(4))
    assert o["failed_requests"] == 1 and o["errors"] == {"http_5xx": 1}


# -- distribution ---------------------------------------------------------------------------------
def test_perfect_alternation():
    d = distribution(["server1", "server2"] * 50, {"server1": 0.5, "server2": 0.5, "server3": 0.0})
    assert d["counts"] == {"server1": 50, "server2": 50, "server3": 0}
    assert d["jain"] == pytest.approx(1.0)
    assert d["p_value"] == pytest.approx(1.0)
    assert d["max_deviation_requests"] == 0 and d["max_deviation_share"] == 0
    assert d["max_pair_difference"] == 0 and d["unexpected"] == 0


def test_skewed_distribution():
    d = distribution(["server1"] * 80 + ["server2"] * 20, {"server1": 1, "server2": 1})
    assert d["jain"] < 0.8
    assert d["p_value"] < 0.001
    assert d["max_deviation_requests"] == pytest.approx(30)
    assert d["max_deviation_share"] == pytest.approx(0.3)
    assert d["max_pair_difference"] == 60


def test_backup_share_is_counted_as_unexpected():
    served = ["server1", "server2"] * 45 + ["server3"] * 10 + [""] * 3
    d = distribution(served, {"server1": 0.5, "server2": 0.5, "server3": 0.0})
    assert d["unexpected"] == 10
    assert d["unnamed"] == 3
    assert d["total"] == 100
    assert d["shares"]["server3"] == pytest.approx(0.1)
    assert d["jain"] == pytest.approx(1.0)  # fairness among the expected servers only


def test_weighted_expectation_is_fair():
    d = distribution(["a"] * 60 + ["b"] * 30, {"a": 2, "b": 1})
    assert d["jain"] == pytest.approx(1.0)
    assert d["p_value"] == pytest.approx(1.0)


def test_single_expected_server_has_no_chi_square():
    d = distribution(["server3"] * 5, {"server3": 1.0})
    assert d["p_value"] is None and d["jain"] == pytest.approx(1.0)


def test_expected_shares_must_not_be_empty():
    with pytest.raises(ValueError):
        distribution(["a"], {"a": 0})


# -- summaries and events ---------------------------------------------------------------------------
def test_summarize_ignores_none():
    s = summarize([1, None, 2, 3, float("nan"), 4, 5])
    assert s["n"] == 5 and s["min"] == 1 and s["max"] == 5 and s["median"] == 3 and s["mean"] == 3
    assert s["p95"] is None  # 5 values: min and max say what they spanned, a p95 would not


def test_a_p95_needs_ten_values():
    assert summarize(list(range(1, 10)))["p95"] is None
    assert summarize(list(range(1, 11)))["p95"] == pytest.approx(9.55)
    assert summarize([None])["median"] is None and summarize([])["n"] == 0


def test_latencies_and_achieved_interval():
    reqs = timeline("..r..")
    assert latencies_ms(reqs) == pytest.approx([2.0] * 4, abs=1e-3)  # unix-time doubles: ~0.2 µs
    assert len(latencies_ms(reqs, ok_only=False)) == 5
    a = achieved_interval(reqs)
    assert a["rate_per_s"] == pytest.approx(100.0)
    assert a["gap_ms"]["median"] == pytest.approx(10.0)


def test_first_after_and_delay():
    events = [(T0 + 0.3, "lb2 MASTER"), (T0 + 0.1, "HAProxy: server1 DOWN"), (T0 - 1, "lb1 MASTER")]
    assert first_after(events, T0) == (T0 + 0.1, "HAProxy: server1 DOWN")
    assert first_after(events, T0, match="MASTER") == (T0 + 0.3, "lb2 MASTER")
    assert first_after(events, T0 + 1) is None
    assert delay_ms(events, T0, "MASTER") == pytest.approx(300.0)
    assert delay_ms([], T0) is None


def test_csv_round_trip_and_torn_line(tmp_path):
    reqs = timeline(".r.x") + [Request(4, at(4), at(4) + 0.01, 201, "", "server2", "42")]
    path = write_requests_csv(tmp_path / "r.csv", reqs)
    with open(path, "a") as f:
        f.write("5,1700000000.05,17000")  # a probe killed mid-row
    back = read_requests(path)
    assert back == reqs
    assert back[4].id == "42" and back[4].ok and not back[1].ok
    assert math.isclose(back[3].latency, 1.0)


def test_a_growing_probe_csv_is_read_in_pieces_and_a_torn_row_waits_for_its_end(tmp_path):
    reqs = timeline(".r.x.")
    path = write_requests_csv(tmp_path / "r.csv", reqs[:2])
    log = RequestLog(path)
    assert log.read() == reqs[:2]
    last = reqs[4].row()
    with open(path, "a") as f:  # completion order: seq 4 before 2 and 3; seq 3 torn mid-row
        f.write(",".join(map(str, last)) + "\n" + ",".join(map(str, reqs[2].row())) + "\n3,17000")
    assert log.read() == [reqs[0], reqs[1], reqs[2], reqs[4]]
    with open(path, "a") as f:
        f.write(",".join(map(str, reqs[3].row()))[len("3,17000"):] + "\n")
    assert log.read() == reqs == read_requests(path)
    assert log.read() == reqs  # nothing new: the same rows


def test_a_file_that_is_not_a_probe_csv_is_refused_when_read_in_pieces(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ProbeError, match="not a probe CSV"):
        RequestLog(path).read()
    assert RequestLog(tmp_path / "absent.csv").read() == []


# -- the probe itself, on loopback (no root, no network namespace) ---------------------------------------
@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 for www.hatestbed.test, with a self-signed certificate as the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.hatestbed.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.hatestbed.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            reply(self, 200 if self.path == "/" else 503, b"server9\n", {"X-Served-By": "server9"})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply(self, 201, b'{"server": "server9", "id": 42}', {"X-Served-By": "server9"})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "ca.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], tmp_path / "ca.pem"
    server.shutdown()
    server.server_close()


def run_probe(tmp_path, port, ca, *extra, name="www.hatestbed.test"):

    out = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*.csv')))}.csv"
    proc = subprocess.run([sys.executable, str(PROBE_CLIENT), "--address", "127.0.0.1", "--port", str(port),
                           "--server-name", name, "--ca", str(ca), "--interval", "0.01", "--duration", "5",
                           "--out", str(out), *extra], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return read_requests(out)


def test_probe_records_every_request(tmp_path, tls_server):
    port, ca = tls_server
    # A 5 s timeout: this checks what is recorded, and this test server does every TLS handshake
    # in its one accepting thread, which a loaded CI machine can stall past the default 1 s.
    rows = run_probe(tmp_path, port, ca, "--count", "20", "--timeout", "5")
    assert [r.seq for r in rows] == list(range(20))
    assert all(r.ok and r.served_by == "server9" and r.done >= r.sent for r in rows), \
        [(r.seq, r.status, r.error) for r in rows if not r.ok]
    posts = run_probe(tmp_path, port, ca, "--count", "3", "--method", "POST", "--path", "/write", "--sequential")
    assert [r.id for r in posts] == ["42"] * 3 and all(r.status == 201 for r in posts)


def test_probe_classifies_failures(tmp_path, tls_server):
    port, ca = tls_server
    assert {r.error for r in run_probe(tmp_path, port, ca, "--count", "3", "--path", "/x")} == {"http_5xx"}
    assert {r.error for r in run_probe(tmp_path, port, ca, "--count", "3", name="other.test")} == {"tls_verify"}
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert {r.error for r in run_probe(tmp_path, closed, ca, "--count", "3")} == {"connect_refused"}


def test_probe_stops_on_sigterm(tmp_path, tls_server):

    port, ca = tls_server
    out = tmp_path / "long.csv"
    proc = subprocess.Popen([sys.executable, str(PROBE_CLIENT), "--address", "127.0.0.1", "--port",
                             str(port), "--server-name", "www.hatestbed.test", "--ca", str(ca), "--interval", "0.01",
                             "--duration", "60", "--out", str(out)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while len(read_requests(out)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["sent"] == len(read_requests(out)) >= 5


def test_a_flag_no_trial_measured_is_none_not_false():
    from experiments.base import AGGREGATES

    assert AGGREGATES["any"]([None, None]) is None  # e.g. a stock run that never crashed the second server
    assert AGGREGATES["any"]([None, False]) is False and AGGREGATES["any"]([False, True]) is True
    assert AGGREGATES["all"]([None]) is None and AGGREGATES["all"]([True, None]) is None  # unknown, not true
    assert AGGREGATES["all"]([True, True]) is True and AGGREGATES["all"]([True, False]) is False


def test_the_first_of_two_crashes_is_not_charged_with_the_seconds_in_flight_requests():
    """server_failover's two crashes ~1 s apart (the second once the first is handled): a request
    in flight at the first crash fails a timeout later; one sent 5 ms before the second fails
    with it. The first crash's outage is its own, not the span to the second's failure."""
    from experiments.server_failover import decided_by_the_first

    # 10 ms probe: 'x' at 0 is in flight at crash 1 (at(0) + 5 ms); 'x' at 97 is in flight at
    # crash 2 (at(97) + 5 ms); every other request served in 2 ms.
    reqs = timeline("x" + "." * 96 + "x" + "." * 20)
    crash1, down, crash2 = at(0) + 0.005, at(12), at(97) + 0.005
    charged = outage([r for r in reqs if r.sent < crash2], crash1)  # the window before the fix
    assert charged["outage_ms"] > 900 and charged["failed_requests"] == 2  # stretched to the second crash
    own = outage(decided_by_the_first(reqs, down, crash2), crash1)
    assert own["outage_ms"] == pytest.approx(10, abs=1) and own["failed_requests"] == 1
    # A failure the first crash caused, sent before HAProxy marked it DOWN, stays the first's
    # even when it ends after the second crash.
    slow = timeline("." + "x" + "." * 95 + "." + "." * 20)
    kept = outage(decided_by_the_first(slow, down, at(1) + 0.5), crash1)
    assert kept["failed_requests"] == 1


def test_a_probe_sized_for_its_schedule_sends_every_tick_through_an_outage(tmp_path, tls_server):
    """A listener that never answers TLS holds every request until its timeout. With fewer
    workers than timeout / interval, ticks find them all busy and are written "busy" (not sent,
    yet counted as failed); with room_for_the_schedule's count every tick is sent."""
    from experiments.probes import room_for_the_schedule

    _, ca = tls_server  # only its CA file: the probe needs one to start

    def probe(max_inflight: int) -> set[str]:
        out = tmp_path / f"hole-{max_inflight}.csv"
        subprocess.run([sys.executable, str(PROBE_CLIENT), "--address", "127.0.0.1", "--port", str(port),
                        "--server-name", "www.hatestbed.test", "--ca", str(ca), "--interval", "0.01",
                        "--timeout", "0.3", "--duration", "0.6", "--max-inflight", str(max_inflight),
                        "--out", str(out)], capture_output=True, text=True, timeout=30, check=True)
        return {r.error for r in read_requests(out)}

    with socket.socket() as hole:  # accepts TCP (the kernel's backlog), never speaks TLS
        hole.bind(("127.0.0.1", 0))
        hole.listen(512)
        port = hole.getsockname()[1]
        assert "busy" in probe(10)
        assert probe(room_for_the_schedule(0.01, 0.3)) == {"tls_timeout"}
