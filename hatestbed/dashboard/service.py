"""The dashboard of a running testbed: a web page on 127.0.0.1 that shows the site live and
breaks it on a click, started by the CLI's `ui` or by topo/run.py --ui, stopped with the session.

    ┌────────────── topo/run.py (one process) ──────────────┐
    │ CLI (main thread) ──fail/heal──▶ FaultBoard ◀──fail/heal── worker thread ◀─ POST /api/fail
    │                                    │ listeners                                  ▲
    │ fast poller (10/s): timeline, strip marks, VIP/links/HAProxy ─┐                 │
    │ slow poller (1/s):  daemons, switches, databases, controllers ┼─▶ Hub ──SSE──▶ page(s)
    │ aiohttp (own thread, own event loop) on 127.0.0.1:<port> ─────┘
    └────────────────────────────────────────────────────────┘
      socat relays: 127.0.0.1:<port> ──▶ Prometheus, Alertmanager, HAProxy stats (relays.py)

Everything it starts is the run's: the probe and the relays are recorded processes, the threads
end with stop(). The page's own report of when it showed a change goes to logs/dashboard-shown.jsonl,
which is how the lag behind the daemons' journals is measured (scripts/bench_dashboard.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from hatestbed.dashboard.model import page_model, spof_overlay
from hatestbed.dashboard.relays import relays_for, start_relays
from hatestbed.dashboard.server import STATIC, VENDOR_FILES, Hub, make_app
from hatestbed.dashboard.state import LiveState
from hatestbed.dashboard.strip import StripProbe
from hatestbed.dashboard.timeline import Timeline
from hatestbed.faultboard import BoardError
from topo.errors import TestbedError

DEFAULT_PORT = 8800
FAST_S, SLOW_S = 0.1, 1.0
FAST_STATE_EVERY = 2  # ticks of the fast poller: the VIP, links and HAProxy 5 times a second
MARKS_KEPT = 1500  # 75 s of marks at 20 a second: what a page that opens late is sent


class DashboardError(TestbedError):
    pass


class Dashboard:
    def __init__(self, testbed, board, port: int = DEFAULT_PORT):
        self.testbed, self.board = testbed, board
        self.wanted_port = port
        self.port: int | None = None
        self.hub = Hub()
        self.workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dashboard-fault")
        self.timeline = Timeline(testbed)
        self.live = LiveState(testbed)
        self.strip = StripProbe(testbed) if testbed.site is not None and testbed.services is not None else None
        self.state: dict = {}
        self.marks: list[dict] = []
        self.links: list[dict] = []
        self._model: dict | None = None
        self._spof: dict | None = None
        self.spof_error = ""
        self._relays: list = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.shown_path = testbed.run_dir.sub("logs") / "dashboard-shown.jsonl"
        self.turn_seconds: dict[str, deque] = {"fast": deque(maxlen=600), "slow": deque(maxlen=600)}

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Dashboard:
        missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
        if missing:
            raise DashboardError(f"the page's libraries are missing ({STATIC / 'vendor' / missing[0]}): "
                                 "run `sudo ./testbed setup`")
        self._model = page_model(self.testbed)
        self.board.listeners += [self.timeline.board_record, self._board_changed]
        self.timeline.poll()  # what happened before the page opened (bring-up's VRRP, ...)
        self.state = {**self.live.fast(), **self.live.slow()}
        self.port = self._serve()
        try:
            self.links, self._relays = start_relays(self.testbed, relays_for(self.testbed))
        except TestbedError as exc:
            self.stop()
            raise DashboardError(f"the monitoring relays did not start: {exc}") from None
        for name, target in (("spof", self._analyze), ("fast", self._fast_loop), ("slow", self._slow_loop)):
            thread = threading.Thread(target=target, name=f"dashboard-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self) -> int:
        from aiohttp import web

        ready = threading.Event()
        failure: list[BaseException] = []
        holder: dict = {}

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(make_app(self), shutdown_timeout=1.0, access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                for port in (self.wanted_port, 0):  # the usual port, else any free one
                    site = web.TCPSite(runner, "127.0.0.1", port)
                    try:
                        loop.run_until_complete(site.start())
                    except OSError:
                        if port == 0:
                            raise
                        continue
                    holder["port"] = runner.addresses[-1][1]
                    break
            except BaseException as exc:  # told to the caller, which raises it
                failure.append(exc)
                ready.set()
                return
            self.hub.loop = loop
            holder["runner"] = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=run, name="dashboard-server", daemon=True)
        thread.start()
        if not ready.wait(10) or failure:
            raise DashboardError(f"the dashboard's server did not start on 127.0.0.1: {failure[0] if failure else 'timeout'}")
        self._server_thread = thread
        return holder["port"]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for listener in (self.timeline.board_record, self._board_changed):
            if listener in self.board.listeners:
                self.board.listeners.remove(listener)
        if self.strip is not None:
            self.strip.stop()
        for proc in self._relays:
            proc.stop(1.0)
        loop = self.hub.loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._server_thread.join(timeout=5)
            self.hub.loop = None
        self.workers.shutdown(wait=True)

    def addresses(self) -> list[str]:
        lines = [f"dashboard: http://127.0.0.1:{self.port}/   (this VM only: it listens on 127.0.0.1)"]
        lines += [f"  {link['title']}: {link['url']}" for link in self.links]
        return lines

    # -- what the server hands out ----------------------------------------------------------------
    def model(self) -> dict:
        from hatestbed.labs.steps import LABS

        return {**self._model, "monitoring": self.links, "labs": {n: title for n, (title, _) in LABS.items()}, "probe_client": self.strip.client if self.strip else None}

    def spof_overlay(self) -> dict | None:
        return self._spof

    def hello(self) -> dict:
        with self._lock:
            return {"now": time.time(), "state": self.state, "events": [e.as_json() for e in self.timeline.recent],
                    "marks": list(self.marks), "board": self.board.addresses(),
                    "probe_error": self.strip.error if self.strip else "no services: no probe"}

    def fault(self, verb: str, address: str) -> tuple[str | None, float | None]:
        """fail or heal `address` through the board (the CLI's): (error or None, the time it took effect)."""
        try:
            fault = getattr(self.board, verb)(address, by="page")
        except BoardError as exc:
            return str(exc), None
        return None, fault.injected_at if verb == "fail" else fault.recovered_at

    def lab(self, lab: int, record: dict | None = None) -> dict:
        """Lab `lab`'s steps and verdicts (lab check), after recording `record` ({key, kind, value})
        when given: the CLI's `lab` on the page. LabInputError for a bad lab, step or value."""
        from hatestbed.labs.book import KINDS, lab_book
        from hatestbed.labs.grade import LabInputError, grade, lab_steps, parse_value, step_of
        from hatestbed.labs.session import Session

        book = lab_book(self.testbed, self.board)
        steps = lab_steps(lab)
        if record is not None:
            if record.get("kind") not in KINDS:
                raise LabInputError(f"record a prediction or an answer, not {record.get('kind')!r}")
            step = step_of(lab, str(record.get("key", "")))
            book.record(lab, step.key, record["kind"], parse_value(step, str(record.get("value", ""))))
        return {"lab": lab, "steps": [{"key": s.key, "ask": s.ask, "how": s.how, "predict": s.predict} for s in steps],
                "verdicts": [v.as_json() for v in grade(lab, Session(self.testbed, self.board), book)]}

    def _board_changed(self, _record: dict) -> None:
        """The board's listener: the pages' list of injected faults, whoever injected or healed."""
        self.hub.publish("board", self.board.addresses())

    def shown(self, record: dict) -> None:
        line = {"t_shown": record.get("t"), "what": str(record.get("what", ""))[:40],
                "value": str(record.get("value", ""))[:200], "t_received": time.time()}
        with open(self.shown_path, "a") as f:
            f.write(json.dumps(line) + "\n")

    # -- pollers ----------------------------------------------------------------------------------
    def _analyze(self) -> None:
        from spof.analysis import analyze

        try:
            self._spof = spof_overlay(analyze(self.testbed.topology))
        except Exception as exc:  # the page says the overlay is missing, and why
            self.spof_error = f"the SPOF analysis failed: {type(exc).__name__}: {exc}"

    def _fast_loop(self) -> None:
        tick = 0
        while not self._stop.wait(FAST_S):
            tick += 1
            self._guarded("fast", self._fast_turn, tick)
        if self.strip is not None:
            self.strip.stop()

    def _fast_turn(self, tick: int) -> None:
        events = self.timeline.poll()
        if events:
            self.hub.publish("events", [e.as_json() for e in events])
        if self.strip is not None:
            marks = self.strip.poll(self.hub.watched)
            if marks:
                with self._lock:
                    self.marks = (self.marks + marks)[-MARKS_KEPT:]
                self.hub.publish("marks", marks)
        # A VRRP or HAProxy event means the state just changed: read it now, not at the next turn.
        if tick % FAST_STATE_EVERY == 0 or any(e.kind in ("vrrp", "haproxy", "fault") for e in events):
            self._update(self.live.fast())

    def _slow_loop(self) -> None:
        while not self._stop.wait(SLOW_S):
            self._guarded("slow", lambda: self._update(self.live.slow()))

    def _guarded(self, which: str, turn, *args) -> None:
        """One poller turn; an error (a host torn down under it, a journal half written) is shown
        on the page and the next turn tries again, rather than the poller dying silently."""
        began = time.monotonic()
        try:
            turn(*args)
        except Exception as exc:
            self._update({f"{which}_error": f"{type(exc).__name__}: {exc}"[:300]})
        else:
            if self.state.get(f"{which}_error"):
                self._update({f"{which}_error": ""})
        finally:  # what a turn costs (scripts/bench_dashboard.py reports it)
            self.turn_seconds[which].append(time.monotonic() - began)

    def _update(self, part: dict) -> None:
        changed = {k: v for k, v in part.items() if self.state.get(k) != v}
        if changed:
            with self._lock:
                self.state = {**self.state, **changed}
            self.hub.publish("state", changed)
