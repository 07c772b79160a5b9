"""The os-ken controller: one owned process, or two (MASTER and standby), as the testbed's service.

    topo/run.py ──Popen──▶ python -m controllers.launch --name controller --fabric conf/fabric.json ...
                             │ pid file pids/controller.pid, log logs/controller.log,
                             │ events logs/controller-events.jsonl (port status, roles, flow installs)
                             │ control channel s/controller.sock (JSON lines, mode 0600)
                             ▼
                  OpenFlow 1.3 on 127.0.0.1:<port>  ◀── every OVS bridge (fail-mode secure)

    controller.instances: 2 (the default) adds "controller2" on <port>+1 (logs/controller2.log,
    s/controller2.sock, ...), each told the other's control socket: every bridge connects to
    both; the first is MASTER, the second a standby that claims MASTER when the first is gone
    (controllers/roles.py).

Ready means: listening on its port, then (checked by the testbed) every bridge connected to every
instance, programmed by the MASTER and confirmed SLAVE by the standby.

ControllerService is what the rest of the testbed calls "the controller": events() merges the
journals, request() goes to the current MASTER, stop() stops every instance.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

from controllers.control import MAX_SUN_PATH, ControlError
from controllers.control import request as control_request
from topo.errors import TestbedError
from runtime.jsonl import read_jsonl
from runtime.processes import OwnedProcess, ProcessError, ProcessOwner, tail
from runtime.runstate import RunDir

REPO = Path(__file__).resolve().parent.parent


class ControllerError(TestbedError):
    pass


def instance_names(instances: int) -> list[str]:
    """The controller instances' names: "controller", then "controller2", ..."""
    return ["controller"] + [f"controller{i}" for i in range(2, instances + 1)]


def control_socket(run_dir: RunDir, name: str) -> Path | None:
    """<run>/s/<name>.sock, or None when the path is too long for AF_UNIX (107 bytes): under a
    very deep run root there is no control channel."""
    control = run_dir.sub("s") / f"{name}.sock"
    return control if len(str(control).encode()) <= MAX_SUN_PATH else None


class ControllerProcess:
    """One controller instance."""

    def __init__(self, run_dir: RunDir, fabric: dict, port: int, name: str = "controller",
                 peer: str | None = None, host: str = "127.0.0.1"):
        self.run_dir = run_dir
        self.host = host  # where switches reach it: loopback, or this machine's underlay address
        self.fabric = fabric
        self.port = port
        self.name = name
        self.peer = peer  # the other instance's name, if redundant
        self.fabric_path = run_dir.sub("conf") / "fabric.json"
        self.log_path = run_dir.sub("logs") / f"{name}.log"
        self.events_path = run_dir.sub("logs") / f"{name}-events.jsonl"
        self.control_path: Path | None = control_socket(run_dir, name)
        self.process: OwnedProcess | None = None
        self.started_at = 0.0  # unix time of the latest start: its journal is appended to, not replaced

    def start(self, timeout: float = 10.0) -> None:
        self.started_at = time.time()
        self.fabric_path.write_text(json.dumps(self.fabric, indent=2))
        argv = [sys.executable, "-m", "controllers.launch", "--fabric", str(self.fabric_path),
                "--listen-host", self.host, "--listen-port", str(self.port),
                "--events", str(self.events_path), "--name", self.name]
        if self.control_path is not None:
            self.control_path.parent.mkdir(parents=True, exist_ok=True)
            argv += ["--control", str(self.control_path)]
            peer_path = control_socket(self.run_dir, self.peer) if self.peer else None
            if peer_path is not None:
                argv += ["--peer-control", str(peer_path)]
        self.process = ProcessOwner(self.run_dir).start(self.name, argv, log=self.log_path, cwd=REPO)
        try:
            self.process.wait_ready(self.listening, timeout, f"the controller listening on {self.host}:{self.port}")
        except ProcessError as exc:
            raise ControllerError(f"the controller exited at start: {exc}") from None

    def alive(self) -> bool:
        return self.process is not None and self.process.running()

    def listening(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def events(self) -> list[dict]:
        """The controller's event journal (switch connects, port status, flow installs)."""
        return read_jsonl(self.events_path)

    def connected_dpids(self, since: float | None = None) -> set[int]:
        """Datapaths whose latest connect/disconnect event is a connect and that are in service
        from this instance: flows installed (as MASTER, on connect or takeover) or confirmed
        standby (events from `since` on; by default from this process's start).

        OVS's own `is_connected` column is refreshed on a timer (seconds late), so the
        controller's journal is the prompt source.
        """
        connected: set[int] = set()
        ready: set[int] = set()
        since = self.started_at if since is None else since
        for event in self.events():
            if event.get("t", 0) < since:
                continue
            if event["event"] == "switch_connected":
                connected.add(event["dpid"])
                ready.discard(event["dpid"])
            elif event["event"] == "switch_disconnected":
                connected.discard(event["dpid"])
            elif event["event"] == "flows_installed" and event.get("cause") in ("switch_connected", "takeover"):
                ready.update(event.get("dpids", []))
            elif event["event"] == "role" and event.get("role") == "standby":
                ready.add(event["dpid"])
        return connected & ready

    def role(self, timeout: float = 1.0) -> dict | None:
        """The instance's own answer to {"op": "role"} (role, generation, per-switch roles), or
        None if it does not answer."""
        return self._ask("role", timeout)

    def reach(self, timeout: float = 2.0) -> dict | None:
        """The instance's answer to {"op": "reach"}: the switches that answered a barrier it
        sent to each switch it is MASTER for, just now (None: no answer within `timeout`)."""
        return self._ask("reach", timeout)

    def _ask(self, op: str, timeout: float) -> dict | None:
        """{"op": op} on the control channel; its answer, or None when the instance does not run
        or does not answer (ok) within `timeout`."""
        if not self.alive() or self.control_path is None:
            return None
        try:
            answer = control_request(self.control_path, {"op": op}, timeout)
        except ControlError:
            return None
        return answer if answer.get("ok") else None

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


class ControllerService:
    """"The controller" of the testbed: one instance, or a MASTER/standby pair.

    Instances start in order (the first finds no live peer and claims MASTER; the second finds
    the first and stays standby), all before the switches, which connect to every instance.
    """

    def __init__(self, run_dir: RunDir, fabric: dict, port: int, instances: int = 1, host: str = "127.0.0.1"):
        names = instance_names(instances)
        peers = {names[0]: names[1], names[1]: names[0]} if instances == 2 else {}
        self.host = host
        self.instances = [ControllerProcess(run_dir, fabric, port + i, name, peers.get(name), host)
                          for i, name in enumerate(names)]

    @property
    def ports(self) -> list[int]:
        return [c.port for c in self.instances]

    @property
    def redundant(self) -> bool:
        return len(self.instances) > 1

    def start(self, timeout: float = 10.0) -> None:
        for instance in self.instances:
            if not instance.alive():
                instance.start(timeout)

    def alive(self) -> bool:
        return any(c.alive() for c in self.instances)

    def master(self) -> ControllerProcess | None:
        """The instance that says it is MASTER (asked over its control channel), or None."""
        for instance in self.instances:
            answer = instance.role()
            if answer is not None and answer.get("role") == "master":
                return instance
        return None

    def instance(self, name: str) -> ControllerProcess:
        for c in self.instances:
            if c.name == name:
                return c
        raise ControllerError(f"no controller instance {name!r} (have {', '.join(c.name for c in self.instances)})")

    def events(self) -> list[dict]:
        """Every instance's journal, merged in time order; each record names its "instance"."""
        merged = []
        for c in self.instances:
            merged += [{**e, "instance": e.get("instance", c.name)} for e in c.events()]
        return sorted(merged, key=lambda e: e.get("t", 0))

    def connected_dpids(self) -> set[int]:
        """Switches in service from every running instance (programmed by the MASTER, confirmed
        SLAVE to the standby); with no instance running, none."""
        running = [c for c in self.instances if c.alive()]
        if not running:
            return set()
        return set.intersection(*(c.connected_dpids() for c in running))

    def request(self, message: dict, timeout: float = 15.0) -> dict:
        """A control request to the MASTER (status, partition, heal)."""
        master = self.master() if self.redundant else self.instances[0]
        if master is None:
            raise ControllerError("no controller instance is MASTER")
        return master.request(message, timeout)

    def logged_errors(self) -> list[str]:
        return [f"{c.name}: {line}" for c in self.instances for line in c.logged_errors()]

    def log_tail(self, lines: int = 3) -> str:
        return "\n".join(f"{c.name}: {c.log_tail(lines)}" for c in self.instances)

    def stop(self, timeout: float = 3.0) -> str:
        return "; ".join(f"{c.name}: {c.stop(timeout)}" for c in self.instances)
