"""The run directory: every process, bridge and interface the testbed creates is written down here
before or as it is created, so teardown and `--clean` remove exactly that and nothing else.

    /run/hatestbed/                      (HATESTBED_RUN_ROOT overrides)
      20261124T101500Z-seed/
        owner.json        pid + start time of the topo/run.py that owns the run
        owned.jsonl       one record per created thing, appended as it is created:
                            {"kind": "process", "name": "controller", "pid": 123, "start": 456789,
                             "signal": 15, "group": false}
                            {"kind": "bridge",    "name": "s1"}
                            {"kind": "interface", "name": "s1-eth1"}
        pids/<name>.pid   pid files of processes the testbed started
        logs/, conf/      daemon logs and rendered configuration
        state             "running" → "stopped" (clean teardown) or "cleaned" (by --clean)

Each OVS bridge also carries external_ids:hatestbed-run=<run directory> in OVSDB, which outlives
/run: a bridge whose run is gone or not active is a crashed run's, and is removed with its ports.

A process is identified by (pid, start time from /proc/<pid>/stat), so a recycled pid is never
signalled. A run whose owner is alive is active and left alone.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

from runtime import command
from runtime.machines import Machine
from topo.errors import TestbedError
from runtime.processes import ProcessRecord, process_start_time, stop_records

RUN_ROOT = Path(os.environ.get("HATESTBED_RUN_ROOT", "/run/hatestbed"))
# external_ids key on every OVS bridge the testbed creates; its value is the run directory.
BRIDGE_OWNER_KEY = "hatestbed-run"
KEEP_RUN_DIRS = 20


class RunStateError(TestbedError):
    """The run directory cannot record what the testbed creates."""


def child_pids(parent: int) -> list[int]:
    """Pids whose parent is `parent` (read from /proc, never matched by name)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    # -- creation -----------------------------------------------------------------------------
    @staticmethod
    def path_for(label: str, root: Path | None = None) -> Path:
        """A new run's directory: <root>/<UTC time to the microsecond>-<label> (fixed length)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        return Path(root or RUN_ROOT) / f"{stamp}-{label}"

    @classmethod
    def create(cls, label: str, root: Path | None = None) -> RunDir:
        root = Path(root or RUN_ROOT)
        run = cls(cls.path_for(label, root))
        for sub in ("pids", "logs", "conf"):
            (run.path / sub).mkdir(parents=True, exist_ok=False)
        me = os.getpid()
        (run.path / "owner.json").write_text(json.dumps(
            {"pid": me, "start": process_start_time(me), "label": label, "created": time.time()}))
        run.set_state("running")
        latest = root / "latest"
        latest.unlink(missing_ok=True)
        latest.symlink_to(run.path.name)
        _prune(root)
        return run

    def sub(self, name: str) -> Path:
        return self.path / name

    def set_state(self, state: str) -> None:
        (self.path / "state").write_text(state + "\n")

    @property
    def state(self) -> str:
        try:
            return (self.path / "state").read_text().strip()
        except FileNotFoundError:
            return "unknown"

    def _append(self, record: dict) -> None:
        with open(self.path / "owned.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record_process(self, name: str, pid: int, stop_signal: int = signal.SIGTERM,
                       group: bool = False, machine: Machine | None = None) -> ProcessRecord:
        """Write a process down (by pid and start time, on `machine` if it is another one's)."""
        start = machine.start_times([pid]).get(pid) if machine is not None else process_start_time(pid)
        where = f" on {machine.name}" if machine is not None else ""
        if start is None:
            raise RunStateError(f"{name} (pid {pid}{where}) exited before it could be recorded")
        suffix = f"@{machine.name}" if machine is not None else ""
        (self.path / "pids" / f"{name}{suffix}.pid").write_text(f"{pid}\n")
        self._append({"kind": "process", "name": name, "pid": pid, "start": start,
                      "signal": int(stop_signal), "group": group, **_on(machine)})
        return ProcessRecord(name, pid, start, int(stop_signal), group, machine)

    def record_machine(self, machine: Machine) -> None:
        """Another machine this run uses: how to reach it again (for teardown and --clean)."""
        self._append({"kind": "machine", "name": machine.name, "address": machine.address,
                      "ssh_config": machine.ssh_config})

    def record_bridges(self, names: list[str], machine: Machine | None = None) -> None:
        for name in names:
            self._append({"kind": "bridge", "name": name, **_on(machine)})

    def record_interfaces(self, names: list[str], machine: Machine | None = None) -> None:
        for name in names:
            self._append({"kind": "interface", "name": name, **_on(machine)})

    # -- reading ------------------------------------------------------------------------------
    def records(self, kind: str) -> list[dict]:
        try:
            lines = (self.path / "owned.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a torn last line after a crash
                continue
            if record.get("kind") == kind:
                out.append(record)
        return out

    def machines(self) -> dict[str, Machine]:
        """The other machines this run used, by name."""
        return {r["name"]: Machine(r["name"], r["address"], r["ssh_config"]) for r in self.records("machine")}

    def processes(self) -> list[ProcessRecord]:
        machines = self.machines()
        return [ProcessRecord(r["name"], r["pid"], r["start"], r.get("signal", signal.SIGTERM), r.get("group", False),
                              machines.get(r["machine"]) if "machine" in r else None)
                for r in self.records("process")]

    def active(self) -> bool:
        """Running, and its topo/run.py is alive (otherwise a crash left it "running")."""
        return self.state == "running" and self.owner_alive()

    def owner_alive(self) -> bool:
        try:
            owner = json.loads((self.path / "owner.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return process_start_time(owner["pid"]) == owner["start"]

    # -- removal ------------------------------------------------------------------------------
    def remove_owned(self, grace: float = 3.0) -> list[str]:
        """Stop every recorded live process (newest first), delete recorded bridges and interfaces.

        Returns a description of what was removed. Safe to call more than once.
        """
        removed = [f"process {proc.name} (pid {proc.pid})"
                   for proc in stop_records(list(reversed(self.processes())), grace)]

        existing_bridges = set(list_bridges())
        doomed = [r["name"] for r in self.records("bridge") if "machine" not in r and r["name"] in existing_bridges]
        if doomed:
            removed += remove_bridges(doomed)

        for name in dict.fromkeys(r["name"] for r in self.records("interface") if "machine" not in r):
            if interface_exists(name):
                command.run(["ip", "link", "del", name], check=False)
                removed.append(f"interface {name}")
        for machine in self.machines().values():
            removed += self._remove_on(machine)
        return removed

    def _remove_on(self, machine: Machine) -> list[str]:
        """This run's bridges and interfaces on another machine, deleted there by name (and only
        those that exist there: one round trip to list, one to delete)."""
        bridges = [r["name"] for r in self.records("bridge") if r.get("machine") == machine.name]
        interfaces = list(dict.fromkeys(r["name"] for r in self.records("interface")
                                        if r.get("machine") == machine.name))
        listing = machine.run(["sh", "-c", "ovs-vsctl --timeout=5 list-br; echo --; ls /sys/class/net"],
                              check=False, timeout=20)
        if not listing.ok:
            return [f"machine {machine.name} unreachable ({listing.stderr.strip()[-200:] or listing.rc}): "
                    f"its bridges and interfaces were not checked"]
        there_bridges, _, there_intfs = listing.stdout.partition("--")
        bridges = [b for b in bridges if b in there_bridges.split()]
        interfaces = [i for i in interfaces if i in there_intfs.split()]
        script = []
        if bridges:
            script.append("ovs-vsctl --timeout=20 " + " ".join(f"-- --if-exists del-br {b}" for b in bridges))
        script += [f"ip link del {i} 2>/dev/null" for i in interfaces]
        if script:
            machine.run(["sh", "-c", "; ".join(script) + "; true"], check=False, timeout=60)
        return [f"{machine.name}: bridge {b}" for b in bridges] + [f"{machine.name}: interface {i}" for i in interfaces]


def _on(machine: Machine | None) -> dict:
    return {"machine": machine.name} if machine is not None else {}


def list_bridges() -> list[str]:
    result = command.run(["ovs-vsctl", "--timeout=5", "list-br"], check=False)
    return result.stdout.split() if result.ok else []


def tagged_bridges() -> dict[str, Path]:
    """Bridge name → run directory, for every OVS bridge a testbed run tagged as its own."""
    result = command.run(["ovs-vsctl", "--timeout=5", "--format=json", "--columns=name,external_ids",
                          "list", "Bridge"], check=False)
    if not result.ok:
        return {}
    return parse_bridge_tags(result.stdout)


def parse_bridge_tags(ovs_json: str) -> dict[str, Path]:
    """Parse `ovs-vsctl --format=json --columns=name,external_ids list Bridge`.

    An external_ids cell is ["map", [[key, value], ...]] in OVSDB's JSON notation.
    """
    tags = {}
    for name, (_map, pairs) in json.loads(ovs_json)["data"]:
        owner = dict(pairs).get(BRIDGE_OWNER_KEY)
        if owner:
            tags[name] = Path(owner)
    return tags


def bridge_ports(bridge: str) -> list[str]:
    result = command.run(["ovs-vsctl", "--timeout=5", "list-ports", bridge], check=False)
    return result.stdout.split() if result.ok else []


def interface_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def run_dirs(root: Path | None = None) -> list[RunDir]:
    root = Path(root or RUN_ROOT)
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink()]


def active_runs(root: Path | None = None) -> list[RunDir]:
    return [run for run in run_dirs(root) if run.active()]


def clean_stale(root: Path | None = None) -> list[str]:
    """Remove what crashed runs (state running, owner dead) left behind; leave active runs alone.

    Runs under `root` are found by their directories; runs elsewhere (another run root, or a
    directory a restart emptied) are found by the tag on the bridges they created.
    """
    removed = []
    for run in run_dirs(root):
        removed += _clean_crashed(run)
    orphans = {}
    for bridge, path in tagged_bridges().items():
        if not RunDir(path).active():
            orphans.setdefault(path, []).append(bridge)
    for path, bridges in orphans.items():
        removed += _clean_crashed(RunDir(path))
        left = set(bridges) & set(list_bridges())
        if left:  # its records are gone: the tagged bridges and their ports are all we know
            removed += [f"{path.name}: {what}" for what in remove_bridges(sorted(left))]
    return removed


def _clean_crashed(run: RunDir) -> list[str]:
    if run.state != "running" or run.active():
        return []
    removed = [f"{run.path.name}: {what}" for what in run.remove_owned()]
    run.set_state("cleaned")
    return removed


def remove_bridges(bridges: list[str]) -> list[str]:
    """Delete OVS bridges and the root-namespace interfaces that were their ports."""
    ports = [port for bridge in bridges for port in bridge_ports(bridge)]
    args = ["ovs-vsctl", "--timeout=20"]
    for bridge in bridges:
        args += ["--", "--if-exists", "del-br", bridge]
    command.run(args, timeout=25)
    removed = [f"bridge {b}" for b in bridges]
    for port in ports:
        if interface_exists(port):
            command.run(["ip", "link", "del", port], check=False)
            removed.append(f"interface {port}")
    return removed


def _prune(root: Path) -> None:
    """Keep the newest KEEP_RUN_DIRS finished run directories (their logs are evidence)."""
    import shutil
    finished = [r for r in run_dirs(root) if r.state in ("stopped", "cleaned")]
    for run in finished[:-KEEP_RUN_DIRS]:
        shutil.rmtree(run.path, ignore_errors=True)
