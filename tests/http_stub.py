"""A plain-HTTP stub on loopback for unit tests of the daemons' HTTP helpers (curl-based):

    with serving({"/metrics": "mysql_up 1\\n"}) as base:     # base = "http://127.0.0.1:<port>"
        ...                                                  # other paths answer 404

The answers are read on every request: a test may change them while the stub runs.
"""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager


def reply(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
    """Answer the request `handler` holds: status, headers, a Content-Length and the body."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serving(answers: dict[str, str]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            reply(self, 200 if self.path in answers else 404, answers.get(self.path, "nope").encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
