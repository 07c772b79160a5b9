"""The controller's control channel: a UNIX socket speaking one JSON object per line.

    testbed (runtime/controller.py ControllerProcess.request)          controller process
        {"op": "partition", "name": "p1", "macs_a": [..], "macs_b": [..]}\\n ──▶ ControlServer
        ◀── {"ok": true, "op": "partition", ..., "t_installed": 1763970000.123}\\n   └─ handler(dict)

Requests and answers are JSON objects, one per line; a connection may carry several requests.
Every answer has "ok"; a failed request answers {"ok": false, "error": "..."} and the connection
stays usable. The socket file is created mode 0600 (root only): anyone who can write to it can
rewrite the fabric's flows. Only plain Python here (no os-ken): the handler is given by
controllers/launch.py and forwards to the os-ken app.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Callable

MAX_LINE = 64 * 1024  # bytes; a longer request is refused and the connection closed
MAX_SUN_PATH = 107  # AF_UNIX path limit on Linux (108 bytes with the terminating NUL)


class ControlError(RuntimeError):
    """The control channel could not be opened, or a request could not be sent or answered."""


def _encode(obj: dict) -> bytes:
    return (json.dumps(obj, default=str) + "\n").encode()


class ControlServer:
    """Accept connections on ``path`` and answer each JSON line with ``handler(request)``.

    ``handler`` gets the parsed object and returns a dict; an exception it raises becomes
    {"ok": false, "error": ...}. Each connection is served by its own daemon thread.
    """

    def __init__(self, path: str | os.PathLike, handler: Callable[[object], dict]):
        self.path = Path(path)
        self.handler = handler
        self._sock: socket.socket | None = None
        self._inode: int | None = None

    def start(self) -> None:
        if len(os.fsencode(self.path)) > MAX_SUN_PATH:
            raise ControlError(f"control socket path is longer than {MAX_SUN_PATH} bytes: {self.path}")
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None:
            if not stat.S_ISSOCK(mode):
                raise ControlError(f"{self.path} exists and is not a socket; not replacing it")
            self.path.unlink()  # a socket left by an earlier controller of this run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)  # the socket file is created 0600
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old_umask)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        self._sock = sock
        self._inode = self.path.lstat().st_ino
        threading.Thread(target=self._accept, name="control-accept", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and remove the socket file (only if it is still the one we made)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        try:
            if self._inode is not None and self.path.lstat().st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass
        self._inode = None

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), name="control-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                reader = conn.makefile("rb")
                while True:
                    line = reader.readline(MAX_LINE + 1)
                    if not line:
                        return
                    if len(line) > MAX_LINE:
                        conn.sendall(_encode({"ok": False, "error": f"request longer than {MAX_LINE} bytes"}))
                        return
                    conn.sendall(_encode(self.answer(line)))
            except OSError:
                return  # the client went away (e.g. gave up waiting): nothing to answer to

    def answer(self, line: bytes) -> dict:
        """The answer to one request line (never raises)."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not a JSON object: {exc}"}
        try:
            reply = self.handler(request)
        except Exception as exc:  # the channel must outlive a bad request
            return {"ok": False, "error": " ".join(str(exc).split()) or type(exc).__name__}
        if not isinstance(reply, dict) or "ok" not in reply:
            return {"ok": False, "error": f"internal: handler answered {reply!r}"}
        return reply


def request(path: str | os.PathLike, message: dict, timeout: float = 10.0) -> dict:
    """Send one request to the control socket at ``path``; the answer (a dict with "ok").

    Raises ControlError when the socket cannot be reached or the answer is not a JSON object.
    A request the controller refused is an answer with "ok": false, not an exception.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(_encode(message))
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
    try:
        answer = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError(f"control socket {path}: not a JSON answer: {data[:200]!r}") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError(f"control socket {path}: unexpected answer {answer!r}")
    return answer
