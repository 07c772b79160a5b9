"""The strip chart's probe: HTTPS requests through the VIP from the last client, while a page
watches, one mark per request (when sent, which server answered, or the error).

    client<N> ──HTTPS every 50 ms──▶ VIP ──▶ lbX ──▶ serverY      mark: t, server or error
    (the last client: the experiments' probes run from the first one, so the two never share a
     client's request scheduler)

The probe is experiments/probes.py's, recorded and stopped like every process of the run. It
runs only while a page is open (watched() says so) and at most CHUNK_S at a time, then the next
probe takes over: no request is sent for a closed page, and nothing runs unbounded.
"""

from __future__ import annotations

import threading
import time

from experiments.probes import HttpsProbe

INTERVAL_S = 0.05  # 20 requests a second: a failover of 60 ms shows as one or two red marks
CHUNK_S = 600
IDLE_STOP_S = 5.0  # no page for this long: the probe stops
IN_FLIGHT = 64  # rows behind the newest that may still be filled in (1 s timeout / 50 ms, and margin)


class StripProbe:
    def __init__(self, testbed):
        self.testbed = testbed
        self.client = testbed.site.clients[-1]
        self.probe: HttpsProbe | None = None
        self.handed: set[int] = set()  # seq of the current probe's rows already handed out
        self.unwatched_since: float | None = None
        self.error = ""
        self._starting: threading.Thread | None = None
        self._count = 0

    def poll(self, watched: bool) -> list[dict]:
        """New marks since the last poll; starts or stops the probe as pages come and go."""
        now = time.time()
        if watched:
            self.unwatched_since = None
        elif self.unwatched_since is None:
            self.unwatched_since = now
        probe = self.probe
        marks = []
        if probe is not None and probe.proc is not None:
            rows = probe.requests()  # sorted by seq; a slow request lands behind faster later ones
            fresh = [r for r in rows[-(len(rows) - len(self.handed) + IN_FLIGHT):] if r.seq not in self.handed]
            self.handed.update(r.seq for r in fresh)
            marks = [{"t": r.sent, "ms": round(r.latency * 1000, 1), "server": r.served_by if r.ok else "",
                      "error": "" if r.ok else (r.error or f"HTTP {r.status}")} for r in fresh]
            if not probe.running():
                self.probe = None
        idle = self.unwatched_since is not None and now - self.unwatched_since > IDLE_STOP_S
        if self.probe is not None and idle:
            self.stop()
        elif self.probe is None and watched and not self._busy():
            self._starting = threading.Thread(target=self._start, name="dashboard-probe-start", daemon=True)
            self._starting.start()
        return marks

    def _busy(self) -> bool:
        return self._starting is not None and self._starting.is_alive()

    def _start(self) -> None:
        self._count += 1
        probe = HttpsProbe(self.testbed, self.client, interval=INTERVAL_S, duration=CHUNK_S, timeout=1.0,
                           label=f"dashboard-{int(time.time())}-{self._count}")
        try:
            probe.start()
        except Exception as exc:  # shown on the page; the next poll tries again
            self.error = f"probe did not start: {exc}"
            return
        self.error = ""
        self.handed = set()
        self.probe = probe

    def stop(self) -> None:
        if self._starting is not None:
            self._starting.join(timeout=10)
        probe, self.probe = self.probe, None
        if probe is not None and probe.proc is not None:
            probe.stop(grace=1.5)
