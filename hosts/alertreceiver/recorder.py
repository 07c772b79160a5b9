"""The alert receiver: a webhook that records every notification its Alertmanager delivers.

    monitor host (its own network namespace)
      Alertmanager ── POST http://127.0.0.1:<alert_receiver>/alerts ──▶ recorder.py
                                                                          │ one line per alert
                                                                          ▼ (O_APPEND, one write each)
                                                   <run>/logs/alerts-received.jsonl  (every recorder's)
      GET /-/ready → 200 "OK" (the readiness probe)

It listens on 127.0.0.1 only: every Alertmanager's configuration names the same URL and
delivers to the recorder of its own host; nothing else can reach it. A line is written before
the reply, so a 200 means recorded: the Alertmanager logs a notification as sent (and tells its
peer, which then does not send it again) only after that. A write that fails answers 500, and
the Alertmanager retries.

Run: python -m hosts.alertreceiver.recorder --host NAME --port PORT --journal PATH
Standard library only: it runs with nothing but the interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hosts.alertreceiver.records import record_lines

WEBHOOK_PATH = "/alerts"
READY_PATH = "/-/ready"


def append_lines(fd: int, lines: list[bytes]) -> None:
    """Each line by a single write() on an O_APPEND descriptor: never interleaved with another
    recorder's, and never split."""
    for line in lines:
        if os.write(fd, line) != len(line):
            raise OSError(f"short write of a {len(line)}-byte record")


def handler_for(recorder: str, fd: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == READY_PATH:
                self._answer(200, "OK")
            else:
                self._answer(404, "not found")

        def do_POST(self):
            if self.path != WEBHOOK_PATH:
                self._answer(404, "not found")
                return
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                lines = record_lines(payload, recorder, time.time())
            except (ValueError, TypeError, AttributeError) as exc:
                self._answer(400, f"not an Alertmanager webhook payload: {exc}")
                return
            try:
                append_lines(fd, lines)
            except OSError as exc:
                self._answer(500, f"not recorded: {exc}")
                return
            print(f"{payload.get('status')} {len(lines)} alert(s) {payload.get('groupKey', '')}", flush=True)
            self._answer(200, f"recorded {len(lines)}")

        def log_message(self, *args):  # one line per notification above is enough
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="this monitor host's name, written in every record")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--journal", required=True, help="the shared JSON-lines file")
    args = parser.parse_args(argv)
    fd = os.open(args.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    server = ThreadingHTTPServer((args.address, args.port), handler_for(args.host, fd))
    print(f"recording alerts for {args.host} on http://{args.address}:{args.port}{WEBHOOK_PATH} "
          f"into {args.journal}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
