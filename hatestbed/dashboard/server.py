"""The dashboard's web server: aiohttp on 127.0.0.1, one event stream per open page.

    GET  /                 the page (static/index.html; its libraries under /static/vendor/)
    GET  /api/model        the picture, every component's fault menu, the monitoring links
    GET  /api/spof         the SPOF overlay (404 until the analysis has run)
    GET  /events           server-sent events: hello (everything now), then state, events, marks, board
    POST /api/fail         {"address"}: inject, through the fault board the CLI uses
    POST /api/heal         {"address"}
    POST /api/shown        {"what", "value", "t"}: the page journals when it showed a change
    GET  /api/lab/N        lab N's self-check: steps and verdicts (the CLI's `lab check N`)
    POST /api/lab/N        {"key", "kind": predict|answer, "value"}: record, then the verdicts

aiohttp runs in a thread of its own with its own event loop; the pollers (other threads) hand
it messages with call_soon_threadsafe. Faults run in a worker thread: an injection blocks for
as long as the fault takes to bite.

Writes need the header X-Testbed-Page: a browser sends a custom header cross-origin only after a
CORS preflight, which this server never grants, so no other web page open in the VM's browser
can break the testbed behind the student's back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from aiohttp_sse import sse_response

STATIC = Path(__file__).resolve().parent / "static"
# What the set-up copies from npm into static/vendor/ (scripts/setup.sh, frontend/package.json).
VENDOR_FILES = ("cytoscape.min.js", "chart.umd.min.js")
WRITE_HEADER = "X-Testbed-Page"
# aiohttp does not cancel a handler whose client went away: the stream looks for it this often.
CLOSED_CHECK_S = 1.0
QUEUE_LIMIT = 2000  # messages a slow page may lag behind before it is dropped (it reconnects)


class Hub:
    """The open pages' queues, touched only on the server's event loop."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queues: set[asyncio.Queue] = set()

    @property
    def watched(self) -> bool:
        return bool(self.queues)

    def publish(self, kind: str, data) -> None:
        """From any thread: send one message to every open page."""
        if self.loop is not None and self.queues:
            text = json.dumps(data, separators=(",", ":"))
            self.loop.call_soon_threadsafe(self._fan_out, kind, text)

    def _fan_out(self, kind: str, text: str) -> None:
        for queue in list(self.queues):
            try:
                queue.put_nowait((kind, text))
            except asyncio.QueueFull:  # the page stopped reading: let it go, it reconnects
                self.queues.discard(queue)


def make_app(dashboard) -> web.Application:
    """The routes, bound to a Dashboard (hatestbed/dashboard/service.py)."""
    hub = dashboard.hub

    async def page(_request):
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def no_icon(_request):
        return web.Response(status=204)

    async def model(_request):
        return web.json_response(dashboard.model())

    async def spof(_request):
        overlay = dashboard.spof_overlay()
        if overlay is None:
            return web.json_response({"error": dashboard.spof_error or "the analysis is still running"}, status=404)
        return web.json_response(overlay)

    async def events(request):
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        hub.queues.add(queue)
        try:
            async with sse_response(request) as stream:
                await stream.send(json.dumps(dashboard.hello(), separators=(",", ":")), event="hello")
                while stream.is_connected():  # checked at least every CLOSED_CHECK_S: a closed page ends this
                    try:
                        kind, text = await asyncio.wait_for(queue.get(), CLOSED_CHECK_S)
                    except asyncio.TimeoutError:
                        continue
                    await stream.send(text, event=kind)
            return stream
        except ConnectionResetError:  # the page was closed or reloaded mid-message
            return web.Response(status=204)
        finally:
            hub.queues.discard(queue)

    async def write(request, action):
        if WRITE_HEADER not in request.headers:
            return web.json_response({"error": f"missing header {WRITE_HEADER}"}, status=403)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        return await asyncio.get_running_loop().run_in_executor(dashboard.workers, action, body)

    def fault_action(verb):
        def act(body):
            error, t = dashboard.fault(verb, str(body.get("address", "")))
            return web.json_response({"ok": error is None, "error": error, "t": t}, status=200 if error is None else 409)
        return act

    def shown(body):
        dashboard.shown(body)
        return web.json_response({"ok": True})

    def lab_action(lab: str, body: dict | None = None):
        try:
            return web.json_response(dashboard.lab(int(lab), body))
        except ValueError as exc:  # a bad lab number, step or value (LabInputError): the page shows it
            return web.json_response({"error": str(exc)}, status=400)

    async def lab_get(request):
        return await asyncio.get_running_loop().run_in_executor(dashboard.workers, lab_action,
                                                                request.match_info["lab"])

    async def lab_post(request):
        return await write(request, lambda body: lab_action(request.match_info["lab"], body))

    async def fail(request):
        return await write(request, fault_action("fail"))

    async def heal(request):
        return await write(request, fault_action("heal"))

    async def seen(request):
        return await write(request, shown)

    app = web.Application()
    app.add_routes([web.get("/", page), web.get("/favicon.ico", no_icon), web.get("/api/model", model), web.get("/api/spof", spof),
                    web.get("/events", events), web.post("/api/fail", fail), web.post("/api/heal", heal),
                    web.post("/api/shown", seen),
                    web.get("/api/lab/{lab}", lab_get), web.post("/api/lab/{lab}", lab_post), web.static("/static", STATIC)])
    return app
