"""The os-ken controller as a process the testbed owns.

    topo/run.py ──Popen──▶ python -m controllers.launch --fabric conf/fabric.json ...
                             │ pid file pids/controller.pid, log logs/controller.log,
                             │ events logs/controller-events.jsonl (port status, flow installs)
                             │ control channel s/controller.sock (JSON lines, mode 0600)
                             ▼
                  OpenFlow 1.3 on 127.0.0.1:<port>  ◀── every OVS bridge (fail-mode secure)

Ready means: listening on its port, then (checked by the testbed) every bridge connected.

request({"op": "partition" | "heal" | "status", ...}) talks to the running controller over its
control channel (controllers/control.py); experiments/faults.py uses it for partitions.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from controllers.control import MAX_SUN_PATH, ControlError
from controllers.control import request as control_request
from topo.errors import TestbedError
from topo.jsonl import read_jsonl
from topo.processes import OwnedProcess, ProcessError, ProcessOwner, tail
from topo.runstate import RunDir

REPO = Path(__file__).resolve().parent.parent


class ControllerError(TestbedError):
    pass


class ControllerProcess:
    name = "controller"

    def __init__(self, run_dir: RunDir, fabric: dict, port: int):
        self.run_dir = run_dir
        self.fabric = fabric
        self.port = port
        self.fabric_path = run_dir.sub("conf") / "fabric.json"
        self.log_path = run_dir.sub("logs") / "controller.log"
        self.events_path = run_dir.sub("logs") / "controller-events.jsonl"
        # AF_UNIX paths are limited to 107 bytes: under a very deep run root there is no channel.
        control = run_dir.sub("s") / "controller.sock"
        self.control_path: Path | None = control if len(str(control).encode()) <= MAX_SUN_PATH else None
        self.process: OwnedProcess | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.fabric_path.write_text(json.dumps(self.fabric, indent=2))
        argv = [sys.executable, "-m", "controllers.launch", "--fabric", str(self.fabric_path),
                "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
                "--events", str(self.events_path)]
        if self.control_path is not None:
            self.control_path.parent.mkdir(parents=True, exist_ok=True)
            argv += ["--control", str(self.control_path)]
        self.process = ProcessOwner(self.run_dir).start(self.name, argv, log=self.log_path, cwd=REPO)
        try:
            self.process.wait_ready(self.listening, timeout, f"the controller listening on 127.0.0.1:{self.port}")
        except ProcessError as exc:
            raise ControllerError(f"the controller exited at start: {exc}") from None

    def alive(self) -> bool:
        return self.process is not None and self.process.running()

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def events(self) -> list[dict]:
        """The controller's event journal (switch connects, port status, flow installs)."""
        return read_jsonl(self.events_path)

    def connected_dpids(self) -> set[int]:
        """Datapaths whose latest connect/disconnect event is a connect and whose flows went out.

        OVS's own `is_connected` column is refreshed on a timer (seconds late), so the
        controller's journal is the prompt source.
        """
        connected: set[int] = set()
        programmed: set[int] = set()
        for event in self.events():
            if event["event"] == "switch_connected":
                connected.add(event["dpid"])
                programmed.discard(event["dpid"])
            elif event["event"] == "switch_disconnected":
                connected.discard(event["dpid"])
            elif event["event"] == "flows_installed" and event.get("cause") == "switch_connected":
                programmed.update(event.get("dpids", []))
        return connected & programmed

    def request(self, message: dict, timeout: float = 15.0) -> dict:
        """One request on the controller's control channel; its answer ({"ok": True, ...}).

        Raises ControllerError if the controller is not running, has no channel, cannot be
        reached, or refuses the request (the answer's "error" is in the message).
        """
        if not self.alive():
            raise ControllerError("the controller is not running")
        if self.control_path is None:
            raise ControllerError("the controller has no control channel (run directory path too long "
                                  f"for a UNIX socket: {self.run_dir.sub('s')})")
        try:
            answer = control_request(self.control_path, message, timeout)
        except ControlError as exc:
            raise ControllerError(str(exc)) from None
        if not answer.get("ok"):
            raise ControllerError(f"the controller refused {message.get('op')!r}: {answer.get('error')}")
        return answer

    def log_tail(self, lines: int = 3) -> str:
        return tail(self.log_path, lines)

    def logged_errors(self) -> list[str]:
        """Lines of the controller log that show it failed internally (a test fails on these)."""
        try:
            text = self.log_path.read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]

    def stop(self, timeout: float = 3.0) -> str:
        """SIGTERM by recorded pid, SIGKILL after `timeout`; what happened, in words."""
        if self.process is None:
            return "never started"
        return self.process.stop(timeout)
