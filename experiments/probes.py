"""Probes: request streams from an emulated client, recorded one row per request as evidence.

    probe = HttpsProbe(testbed, "client1", interval=0.01, duration=30)
    probe.start()            probe_client.py runs inside client1 (its own namespace), pid recorded
    ...fault...
    rows = probe.stop()      SIGTERM, bounded wait, then the parsed CSV: list[Request]

    client1 ── probe_client.py ── new TCP+TLS per request ──▶ VIP 10.0.1.100:443 ──▶ lb ──▶ server
                   │
                   └─▶ <run>/probes/<label>.csv   seq,sent,done,status,error,served_by,id
                       <run>/probes/<label>.log   stderr and the probe's one-line JSON summary

The probe is a separate process (not a thread of the testbed) so it runs inside the client's
network namespace and its timing does not depend on what the experiment does meanwhile.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from experiments.probe_client import FIELDS
from topo.errors import TestbedError
from runtime.jsonl import LineTail
from runtime.processes import OwnedProcess, ProcessError
from runtime.wait import NotReadyError

PROBE_CLIENT = Path(__file__).resolve().parent / "probe_client.py"
START_TIMEOUT = 15.0  # interpreter start + imports inside a busy host; normally ~0.1 s


class ProbeError(TestbedError):
    """A probe did not start, or did not finish when it should have."""


@dataclass(frozen=True)
class Request:
    """One request as the client saw it. Times are unix seconds (comparable with daemon logs)."""
    seq: int
    sent: float
    done: float
    status: int
    error: str = ""
    served_by: str = ""
    id: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.error

    @property
    def latency(self) -> float:
        return self.done - self.sent

    def row(self) -> list:
        return [self.seq, f"{self.sent:.6f}", f"{self.done:.6f}", self.status, self.error, self.served_by, self.id]


def parse_row(fields: list[str]) -> Request | None:
    """One CSV row as a Request; None for a row that is not one (torn, or not numbers)."""
    if len(fields) != len(FIELDS):
        return None
    try:
        return Request(int(fields[0]), float(fields[1]), float(fields[2]), int(fields[3]),
                       fields[4], fields[5], fields[6])
    except ValueError:
        return None


def read_requests(path: Path | str) -> list[Request]:
    """Parse a probe CSV (possibly still being written), sorted by seq.

    A torn last line (the probe is writing, or was killed mid-row) is skipped, not an error.
    """
    return RequestLog(path).read()


class RequestLog:
    """A probe CSV read as it grows: each read() parses only the whole lines written since the
    last one. A sweep's probes write for minutes (10-20 rows a second each) and are polled every
    0.05-0.1 s; parsing every row on every poll cost seconds of the CPU the testbed shares.

        <label>.csv  header | rows already parsed | rows since the last read() | a torn line
                              ^ kept in .rows        ^ parsed now                ^ left for the next read
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.tail = LineTail(self.path)  # the whole lines since the last read, a torn one waiting
        self.rows: list[Request] = []

    def read(self) -> list[Request]:
        """Every row so far, sorted by seq (rows are written in completion order)."""
        first = self.tail.offset == 0
        lines = self.tail.read()
        if lines and first:
            header = next(csv.reader(lines[:1]))
            if header != FIELDS:
                raise ProbeError(f"{self.path}: not a probe CSV (header {header})")
            lines = lines[1:]
        new = [row for row in map(parse_row, csv.reader(lines)) if row is not None]
        if new:
            self.rows.extend(new)
            self.rows.sort(key=lambda r: r.seq)  # nearly sorted already: cheap
        return list(self.rows)


def room_for_the_schedule(interval: float, timeout: float, sequential: bool = False) -> int:
    """Requests the probe must be able to hold in flight to keep its clock through an outage:
    each lasts at most `timeout` (the client's deadline for the whole request), so a tick every
    `interval` never finds every worker busy with timeout / interval + 1 of them (a margin on
    top). With too few, the ticks at the end of an outage were written "busy", not sent, and
    counted as failures after the service was back: 64 workers for 10 ms ticks and 1 s
    timeouts stretched a stock lb_failover outage 43 ms past what the client's own packet
    capture showed."""
    if sequential or interval <= 0:
        return 64
    return max(64, math.ceil(timeout / interval) + 16)


class HttpsProbe:
    """probe_client.py in a client host, aimed at the VIP (or `address`) under the site's name."""

    _labels = itertools.count(1)

    def __init__(self, testbed, client: str, *, interval: float = 0.01, duration: float = 30.0,
                 path: str = "/", method: str = "GET", timeout: float = 1.0, sequential: bool = False,
                 count: int | None = None, label: str | None = None, address: str | None = None,
                 max_inflight: int | None = None):
        if testbed.site is None or testbed.run_dir is None:
            raise ProbeError("the testbed's services are not started (no site, no run directory)")
        self.testbed = testbed
        self.client = client
        self.interval, self.duration, self.timeout = interval, duration, timeout
        self.path, self.method = path, method
        self.sequential, self.count = sequential, count
        self.max_inflight = max_inflight or room_for_the_schedule(interval, timeout, sequential)
        self.address = address or testbed.site.vip
        self.label = label or f"{client}-{method.lower()}-{next(self._labels)}"
        self.dir = testbed.run_dir.path / "probes"
        self.csv_path = self.dir / f"{self.label}.csv"
        self.log_path = self.dir / f"{self.label}.log"
        self.log = RequestLog(self.csv_path)
        self.proc: OwnedProcess | None = None
        self.started: float | None = None  # unix time the process was launched

    def argv(self) -> list[str]:
        site = self.testbed.site
        argv = [sys.executable, str(PROBE_CLIENT),
                "--address", self.address, "--server-name", site.services.server_name,
                "--port", str(site.services.ports.https), "--ca", str(site.tls_ca),
                "--path", self.path, "--method", self.method,
                "--interval", f"{self.interval:g}", "--duration", f"{self.duration:g}",
                "--timeout", f"{self.timeout:g}", "--max-inflight", str(self.max_inflight),
                "--out", str(self.csv_path)]
        if self.count is not None:
            argv += ["--count", str(self.count)]
        if self.sequential:
            argv.append("--sequential")
        return argv

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> HttpsProbe:
        if self.proc is not None:
            raise ProbeError(f"probe {self.label} already started")
        self.dir.mkdir(parents=True, exist_ok=True)
        # An experiment run again on the same testbed (the CLI's `experiment NAME` twice) uses
        # its labels again: the second run's files get a number, the first run's stay as they were.
        base, again = self.label, 1
        while self.csv_path.exists():
            again += 1
            self.label = f"{base}.{again}"
            self.csv_path, self.log_path = self.dir / f"{self.label}.csv", self.dir / f"{self.label}.log"
            self.log = RequestLog(self.csv_path)
        self.started = time.time()
        # Recorded at once: a crash of the experiment still gets it stopped by teardown/--clean.
        self.proc = self.testbed.processes.start(f"probe-{self.label}", self.argv(), node=self.testbed.net[self.client],
                                                 log=self.log_path)
        # The header is written once the interpreter, the CA and the output file are ready.
        try:
            self.proc.wait_ready(lambda: self.csv_path.exists() and self.csv_path.stat().st_size > 0,
                                 START_TIMEOUT, f"probe {self.label} writing {self.csv_path}")
        except NotReadyError:
            self.proc.stop(0)
            raise ProbeError(f"probe {self.label} wrote nothing within {START_TIMEOUT:g} s; "
                             f"see {self.log_path}: {self.proc.tail()}") from None
        except ProcessError:
            if self.proc.returncode != 0:
                raise ProbeError(f"probe {self.label} exited with {self.proc.returncode} at start-up; "
                                 f"see {self.log_path}: {self.proc.tail()}") from None
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.running()

    def stop(self, grace: float | None = None) -> list[Request]:
        """SIGTERM; in-flight requests get their timeout (plus margin) to finish, then SIGKILL."""
        if self.proc is None:
            raise ProbeError(f"probe {self.label} was never started")
        self.proc.stop(grace if grace is not None else self.timeout + 3.0)
        return self.requests()

    def wait(self, timeout: float | None = None) -> list[Request]:
        """Wait for a bounded run (duration/count) to end by itself; raise if it overruns."""
        if self.proc is None:
            raise ProbeError(f"probe {self.label} was never started")
        if timeout is None:
            planned = self.duration
            if self.count is not None and not self.sequential:
                planned = min(planned, self.count * self.interval)
            timeout = planned + self.timeout + 10.0
        if not self.proc.wait(timeout):
            self.proc.stop(0)
            raise ProbeError(f"probe {self.label} still running after {timeout:g} s; killed")
        if self.proc.returncode != 0:
            raise ProbeError(f"probe {self.label} exited with {self.proc.returncode}; "
                             f"see {self.log_path}: {self.proc.tail()}")
        return self.requests()

    def requests(self) -> list[Request]:
        """The rows written so far (the probe flushes each request as it completes)."""
        return self.log.read()

    def summary(self) -> dict | None:
        """The probe's own last-line JSON summary (counts, worst schedule lag), once it has exited."""
        try:
            lines = self.log_path.read_text().strip().splitlines()
        except FileNotFoundError:
            return None
        try:
            return json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            return None
