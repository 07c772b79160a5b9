"""A request probe that runs INSIDE an emulated host: one HTTPS request per tick, one CSV row each.

    probe_client.py --address 10.0.1.100 --server-name www.hatestbed.test --port 443 \\
                    --ca <run>/tls/ca.pem --interval 0.01 --duration 20 --out probe.csv
                    [--path /] [--method GET|POST] [--timeout 1.0] [--count N] [--sequential]
                    [--max-inflight 64]

    tick k = start + k*interval ──▶ a free worker? ──yes──▶ new TCP connect ─▶ TLS ─▶ HTTP/1.1 ─▶ row
                                                  └──no───▶ row with error "busy" (never queued)

Every request opens a NEW TCP connection and a full TLS handshake (no keep-alive, no session
reuse), so each one is balanced and failed over on its own. The certificate is verified against
the run's CA with SNI and host name = --server-name while the socket connects to --address.

Schedule: requests start on a fixed clock (k * interval from the start), not "interval after the
previous one finished", so a slow or hung request never delays the next; at most --max-inflight
run at once and a tick that finds them all busy is recorded as a failure ("busy"). With
--sequential the next request starts when the previous finished, but not before its tick
(interval 0: back to back).

Rows (CSV, flushed as each request completes, so completion order; sort by seq):
    seq, sent (unix time when connect started), done (unix time when it completed or failed),
    status (HTTP code, 0 if none), error (empty or one kind, see ERROR_KINDS), served_by
    (X-Served-By), id (POST /write: the acknowledged row id)

Stops after --duration seconds or --count requests, whichever comes first, or on SIGTERM/SIGINT:
no new requests, in-flight ones get until their own timeout, any still running then are written
as "aborted", exit 0. A one-line JSON summary goes to stdout. Standard library only: it starts fast.
"""

from __future__ import annotations

import argparse
import csv
import errno
import http.client
import json
import queue
import resource
import os
import signal
import socket
import ssl
import sys
import threading
import time

FIELDS = ["seq", "sent", "done", "status", "error", "served_by", "id"]
ERROR_KINDS = {
    "connect_timeout": "no TCP connection within the timeout (SYN unanswered)",
    "connect_refused": "TCP RST to the SYN (nothing listening)",
    "unreachable": "no route / ARP failed (EHOSTUNREACH, ENETUNREACH)",
    "reset": "connection reset by the peer after it was established",
    "tls": "TLS handshake failed (alert, EOF mid-handshake)",
    "tls_verify": "the server's certificate did not verify against the CA / name",
    "tls_timeout": "TCP connected but the TLS handshake did not finish in time",
    "read_timeout": "the HTTP response did not arrive in time",
    "closed": "the server closed the connection without a response",
    "bad_response": "not a valid HTTP response",
    "http_5xx": "HTTP status 500-599",
    "http_4xx": "HTTP status 400-499",
    "busy": "not sent: --max-inflight requests were still running",
    "aborted": "still running when the probe was stopped",
    "error": "anything else (see the probe's stderr)",
}
SERVED_BY_HEADER = "X-Served-By"
# A POST's outcome is unknown when it may have reached the application: its row may or may not
# exist (Jepsen's "info"). A "reset" may come before sending too; counted here, it is only ever
# "not known", never lost and never served.
OUTCOME_UNKNOWN = ("read_timeout", "closed", "bad_response", "reset", "aborted")


def write_payload(label: str, seq: int) -> str:
    """The body of POST number `seq` of the probe `label`: stored as the row's payload, so a
    stored row names the one request that wrote it (ids alone repeat across two primaries)."""
    return f"{label} seq={seq}"


class Probe:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.label = os.path.splitext(os.path.basename(args.out))[0]  # the launcher names the CSV <label>.csv
        self.context = ssl.create_default_context(cafile=args.ca)  # verifies chain + host name
        self.host_header = args.server_name if args.port == 443 else f"{args.server_name}:{args.port}"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.out = open(args.out, "w", newline="")
        self.writer = csv.writer(self.out)
        self.writer.writerow(FIELDS)
        self.out.flush()  # the header tells the launcher the probe is up
        self.in_flight: dict[int, float] = {}  # seq → sent, for "aborted" rows at exit
        self.counts = {"sent": 0, "ok": 0, "failed": 0, "busy": 0}
        self.max_lag = 0.0  # worst lateness of a tick (seconds): is the schedule sustained?

    # -- rows ---------------------------------------------------------------------------------
    def record(self, seq: int, sent: float, done: float, status: int, error: str, served_by: str = "",
               new_id: str = "") -> None:
        with self.lock:
            self.in_flight.pop(seq, None)
            if self.out.closed:
                return
            self.writer.writerow([seq, f"{sent:.6f}", f"{done:.6f}", status, error, served_by, new_id])
            self.out.flush()
            self.counts["ok" if not error and 200 <= status < 300 else "failed"] += 1
            if error == "busy":
                self.counts["busy"] += 1

    # -- one request --------------------------------------------------------------------------
    def request(self, seq: int) -> None:
        sent = time.time()
        with self.lock:
            self.in_flight[seq] = sent
        status, error, served_by, new_id = 0, "", "", ""
        try:
            status, served_by, new_id = self._exchange(seq, sent + self.args.timeout)
            if status >= 500:
                error = "http_5xx"
            elif status >= 400:
                error = "http_4xx"
        except _Failed as exc:
            error = exc.kind
        except Exception as exc:  # never lose a row: an unforeseen failure is still a failure
            error = "error"
            print(f"seq {seq}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        self.record(seq, sent, time.time(), status, error, served_by, new_id)

    def _exchange(self, seq: int, deadline: float) -> tuple[int, str, str]:
        args = self.args
        try:
            sock = socket.create_connection((args.address, args.port), timeout=_left(deadline))
        except TimeoutError:
            raise _Failed("connect_timeout") from None
        except ConnectionRefusedError:
            raise _Failed("connect_refused") from None
        except OSError as exc:
            raise _Failed(_os_kind(exc, "unreachable")) from None
        try:
            sock.settimeout(_left(deadline))
            try:
                tls = self.context.wrap_socket(sock, server_hostname=args.server_name)
            except TimeoutError:
                raise _Failed("tls_timeout") from None
            except ssl.SSLCertVerificationError:
                raise _Failed("tls_verify") from None
            except ssl.SSLError:
                raise _Failed("tls") from None
            except OSError as exc:
                raise _Failed(_os_kind(exc, "tls")) from None
            sock = tls
            conn = http.client.HTTPConnection(args.server_name, args.port)
            conn.sock = tls  # already connected: HTTPConnection would otherwise dial server_name
            body = write_payload(self.label, seq).encode() if args.method == "POST" else None
            headers = {"Host": self.host_header, "Connection": "close"}
            if body is not None:
                headers["Content-Type"] = "text/plain"
            try:
                sock.settimeout(_left(deadline))
                conn.request(args.method, args.path, body=body, headers=headers)
                response = conn.getresponse()
                sock.settimeout(_left(deadline))
                data = response.read()
            except TimeoutError:
                raise _Failed("read_timeout") from None
            except http.client.RemoteDisconnected:
                raise _Failed("closed") from None
            except http.client.HTTPException:
                raise _Failed("bad_response") from None
            except ssl.SSLError:
                raise _Failed("tls") from None
            except OSError as exc:
                raise _Failed(_os_kind(exc, "reset")) from None
            new_id = ""
            if args.method == "POST" and 200 <= response.status < 300:
                try:
                    new_id = str(json.loads(data)["id"])
                except (ValueError, KeyError, TypeError):
                    raise _Failed("bad_response") from None
            return response.status, response.getheader(SERVED_BY_HEADER, ""), new_id
        finally:
            sock.close()

    # -- schedules ----------------------------------------------------------------------------
    def run(self) -> None:
        if self.args.sequential:
            self._run_sequential()
        else:
            self._run_scheduled()

    def _ticks(self):
        """Yield (seq, tick time on the monotonic clock) until duration, count or a stop."""
        start = time.monotonic()
        end = start + self.args.duration
        seq = 0
        while not self.stop.is_set() and (self.args.count is None or seq < self.args.count):
            tick = start + seq * self.args.interval
            if tick >= end:
                return
            if self.stop.wait(max(0.0, tick - time.monotonic())):
                return
            self.max_lag = max(self.max_lag, time.monotonic() - tick)
            yield seq, tick
            seq += 1

    def _run_sequential(self) -> None:
        for seq, _ in self._ticks():
            self.counts["sent"] += 1
            self.request(seq)

    def _run_scheduled(self) -> None:
        jobs: queue.Queue[int | None] = queue.Queue()
        free = threading.Semaphore(self.args.max_inflight)

        def worker() -> None:
            while (seq := jobs.get()) is not None:
                try:
                    self.request(seq)
                finally:
                    free.release()

        # Daemon threads: a request stuck past its deadline cannot keep the process alive.
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(self.args.max_inflight)]
        for thread in workers:
            thread.start()
        for seq, _ in self._ticks():
            self.counts["sent"] += 1
            if free.acquire(blocking=False):
                jobs.put(seq)
            else:
                now = time.time()
                self.record(seq, now, now, 0, "busy")
        for _ in workers:
            jobs.put(None)
        # In-flight requests end by their own timeout; allow that plus a little, then give up.
        deadline = time.monotonic() + self.args.timeout + 0.5
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> dict:
        with self.lock:
            now = time.time()
            for seq, sent in sorted(self.in_flight.items()):
                self.writer.writerow([seq, f"{sent:.6f}", f"{now:.6f}", 0, "aborted", "", ""])
                self.counts["failed"] += 1
            self.in_flight.clear()
            self.out.close()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        return {**self.counts, "max_lag_ms": round(self.max_lag * 1000, 3),
                "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 3)}  # the probe's own cost on the machine


class _Failed(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def _left(deadline: float) -> float:
    """Seconds to the request's deadline; a small floor so an exhausted budget fails as a timeout."""
    return max(0.001, deadline - time.time())


def _os_kind(exc: OSError, default: str) -> str:
    if isinstance(exc, TimeoutError):
        return "connect_timeout" if default == "unreachable" else "read_timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "reset"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return default


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="IP to connect to (the VIP or a server)")
    parser.add_argument("--server-name", required=True, help="TLS SNI and verified host name")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--ca", required=True, help="CA certificate (PEM) to verify the server with")
    parser.add_argument("--path", default="/")
    parser.add_argument("--method", choices=["GET", "POST"], default="GET")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between request starts")
    parser.add_argument("--duration", type=float, default=30.0, help="stop sending after this many seconds")
    parser.add_argument("--count", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--timeout", type=float, default=1.0, help="per request, connect to last byte")
    parser.add_argument("--sequential", action="store_true", help="next request only after the previous one")
    parser.add_argument("--max-inflight", type=int, default=64)
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    if args.interval < 0 or args.duration <= 0 or args.timeout <= 0 or args.max_inflight < 1:
        parser.error("--interval must be >= 0, --duration, --timeout and --max-inflight > 0")
    if args.count is not None and args.count < 1:
        parser.error("--count must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    probe = Probe(args)

    def on_signal(signum, frame):
        probe.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        probe.run()
    finally:
        summary = probe.close()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
