"""A second machine simulated on this one, for split placements tested on a single VM.

    this machine (root namespaces)                 machine m2 (simulated)
    ───────────────────────────────                ─────────────────────────────────────────────
    topo/run.py, controllers, OVS                  network namespace hbm-m2
    hbu-m2 10.250.1.1/30 ══ veth (underlay) ══════ hbu-m2i 10.250.1.2/30
                                                   PID namespace: its own init is sshd (PID 1)
                                                   mount namespace: its own /run/openvswitch,
                                                     /etc/openvswitch, /var/log/openvswitch (its own
                                                     ovsdb-server + ovs-vswitchd), /root, /etc/hosts
                                                   UTS namespace: hostname m2
                                                   sshd on 10.250.1.2:22, root by key only

Everything else of the file system is shared, as a real second machine would share the project
and the run directory over NFS (runtime/cluster.py's preflight checks that for real machines).
Mininet Cluster Edition reaches it exactly as it would reach a real one: over SSH, by address.

It lives beyond one run (the suite's testbeds reuse it) and goes with `topo/run.py --clean`.
What it is made of is written in <root>/<name>/machine.json before anything waits on it:
  - the namespace's init (pid and start time here): killing it ends every process of the
    machine at once (a PID namespace dies with its init), and nothing else;
  - the local ssh connection master, by pid and start time;
  - the network namespace and the underlay veth, by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from runtime import command
from runtime.machines import Machine
from runtime.processes import process_start_time, tail
from runtime.runstate import child_pids
from runtime.wait import wait_until
from topo.errors import TestbedError

MACHINE_ROOT = Path(os.environ.get("HATESTBED_MACHINE_ROOT", "/run/hatestbed-machines"))
# Underlay addresses: the i-th simulated machine (from 1) gets 10.250.i.0/30, .1 here and .2 there.
UNDERLAY_PREFIX = "10.250"
# binary → Debian package (named in the error a user sees)
REQUIRED = {"sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client",
            "unshare": "util-linux"}


class SimulatedMachineError(TestbedError):
    """The simulated machine could not be made or removed; the message says which step."""


def netns_name(name: str) -> str:
    return f"hbm-{name}"


def underlay_names(name: str) -> tuple[str, str]:
    """(this machine's end, the simulated machine's end) of the underlay veth."""
    return f"hbu-{name}", f"hbu-{name}i"


def underlay_addresses(index: int) -> tuple[str, str]:
    return f"{UNDERLAY_PREFIX}.{index}.1", f"{UNDERLAY_PREFIX}.{index}.2"


class SimulatedMachine:
    def __init__(self, name: str, index: int, root: Path | None = None):
        self.name, self.index = name, index
        self.dir = Path(root or MACHINE_ROOT) / name
        self.local_address, self.address = underlay_addresses(index)
        self.netns = netns_name(name)
        self.outer, self.inner = underlay_names(name)

    @property
    def machine(self) -> Machine:
        return Machine(self.name, self.address, str(self.dir / "ssh_config"))

    # -- state ----------------------------------------------------------------------------------
    def _record(self) -> dict:
        try:
            return json.loads((self.dir / "machine.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _write(self, record: dict) -> None:
        (self.dir / "machine.json").write_text(json.dumps(record, indent=1) + "\n")

    @staticmethod
    def _alive(entry: dict | None) -> bool:
        return bool(entry) and process_start_time(entry["pid"]) == entry["start"]

    def running(self) -> bool:
        record = self._record()
        return record.get("address") == self.address and self._alive(record.get("init")) \
            and self._alive(record.get("ssh_master"))

    # -- make -------------------------------------------------------------------------------------
    def ensure(self, timeout: float = 30.0) -> Machine:
        """The machine, running and answering SSH: reused if it is, else (re)made."""
        if self.running() and self.machine.reachable():
            return self.machine
        self.remove()
        self._create(timeout)
        return self.machine

    def _create(self, timeout: float) -> None:
        for binary, package in REQUIRED.items():
            if shutil.which(binary) is None and not Path("/usr/sbin", binary).exists():
                raise SimulatedMachineError(f"simulated machine {self.name}: missing program {binary!r} "
                                            f"(Debian package {package}): run `sudo ./testbed setup`")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write({"name": self.name, "index": self.index, "address": self.address,
                     "netns": self.netns, "underlay": [self.outer, self.inner]})
        self._write_files()
        steps = [["ip", "netns", "add", self.netns],
                 ["ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner],
                 ["ip", "link", "set", self.inner, "netns", self.netns],
                 ["ip", "addr", "add", f"{self.local_address}/30", "dev", self.outer],
                 ["ip", "link", "set", self.outer, "up"],
                 ["ip", "-n", self.netns, "addr", "add", f"{self.address}/30", "dev", self.inner],
                 ["ip", "-n", self.netns, "link", "set", self.inner, "up"],
                 ["ip", "-n", self.netns, "link", "set", "lo", "up"]]
        for step in steps:
            self._step(step)
        # TCP over a veth in this VM: the checksum is never filled in unless offload is off
        # (the same reason as every host interface, runtime/network.py).
        self._step(["ethtool", "-K", self.outer, "tx", "off"])
        self._step(["ip", "netns", "exec", self.netns, "ethtool", "-K", self.inner, "tx", "off"])
        with open(self.dir / "init.log", "ab") as log:
            unshare = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--pid", "--uts", "--fork",
                 "--mount-proc", "--propagation", "private", "sh", str(self.dir / "init.sh")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        record = self._record()
        record["unshare"] = {"pid": unshare.pid, "start": process_start_time(unshare.pid)}
        self._write(record)
        init = wait_until(lambda: _only_child(unshare.pid), 10, f"simulated machine {self.name}'s init")
        record["init"] = {"pid": init, "start": process_start_time(init)}
        self._write(record)
        wait_until(lambda: unshare.poll() is not None or self._sshd_answers(), timeout,
                   f"simulated machine {self.name}'s sshd on {self.address}")
        if unshare.poll() is not None:
            raise SimulatedMachineError(f"simulated machine {self.name}: its init exited (code {unshare.returncode}); "
                                        f"see {self.dir / 'init.log'}: {tail(self.dir / 'init.log')}")
        # The shared connection, started here so it is ours by pid (ControlMaster=auto would
        # leave it to whichever ssh came first).
        master = subprocess.run(self.machine.ssh_argv()[:-1] + ["-o", "ControlMaster=yes", "-f", "-N",
                                                                 f"root@{self.address}"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if master.returncode != 0:
            raise SimulatedMachineError(f"simulated machine {self.name}: ssh to {self.address} failed: "
                                        f"{master.stderr.strip()[-300:]}")
        pid = self._master_pid()
        record["ssh_master"] = {"pid": pid, "start": process_start_time(pid)}
        self._write(record)
        wait_until(lambda: self.machine.run(["ovs-vsctl", "--timeout=2", "show"], check=False).ok, timeout,
                   f"simulated machine {self.name}'s Open vSwitch")

    def _sshd_answers(self) -> bool:
        probe = subprocess.run(self.machine.ssh_argv()[:-1] + ["-o", "ControlMaster=no", "-o", "ControlPath=none",
                                                                 "-o", "ConnectTimeout=1", f"root@{self.address}", "true"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return probe.returncode == 0

    def _master_pid(self) -> int:
        check = subprocess.run(self.machine.ssh_argv()[:-1] + ["-O", "check", f"root@{self.address}"],
                               capture_output=True, text=True, timeout=10)
        text = check.stderr + check.stdout
        if "pid=" not in text:
            raise SimulatedMachineError(f"simulated machine {self.name}: no ssh master: {text.strip()}")
        return int(text.split("pid=", 1)[1].split(")", 1)[0])

    def _step(self, args: list[str]) -> None:
        result = command.run(args, check=False)
        if not result.ok:
            raise SimulatedMachineError(f"simulated machine {self.name}: `{' '.join(args)}` failed: "
                                        f"{(result.stderr or result.stdout).strip()}")

    def _write_files(self) -> None:
        d = self.dir
        for key in ("client_key", "host_key"):
            for path in (d / key, d / f"{key}.pub"):
                path.unlink(missing_ok=True)
            command.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hatestbed-{self.name}",
                         "-f", str(d / key)])
        shutil.copy(d / "client_key.pub", d / "authorized_keys")
        host_key = " ".join((d / "host_key.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"{self.address} {host_key}\n")
        (d / "sshd_config").write_text(textwrap.dedent(f"""\
            # sshd of simulated machine {self.name} (runtime/simmachine.py)
            ListenAddress {self.address}
            HostKey {d / 'host_key'}
            PidFile none
            AuthorizedKeysFile {d / 'authorized_keys'}
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            UseDNS no
            PrintMotd no
            PrintLastLog no
            # Each daemon on the machine keeps a session open for its life, all on one connection.
            MaxSessions 1000
            MaxStartups 200:30:400
            LogLevel ERROR
            """))
        (d / "ssh_config").write_text(textwrap.dedent(f"""\
            # ssh to simulated machine {self.name} (runtime/simmachine.py)
            Host {self.address}
              User root
              IdentityFile {d / 'client_key'}
              IdentitiesOnly yes
              BatchMode yes
              StrictHostKeyChecking yes
              UserKnownHostsFile {d / 'known_hosts'}
              ControlMaster auto
              ControlPath {d / 'ctl'}
              LogLevel ERROR
            """))
        (d / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n")
        private = "/run/openvswitch /etc/openvswitch /var/log/openvswitch /var/lib/openvswitch /run/sshd /root"
        (d / "init.sh").write_text(textwrap.dedent(f"""\
            # PID 1 of simulated machine {self.name}: its own mounts, Open vSwitch, then sshd.
            set -e
            for dir in {private}; do
                mkdir -p "$dir"
                mount -t tmpfs -o mode=0755 "hatestbed-{self.name}" "$dir"
            done
            mount --bind {d / 'hosts'} /etc/hosts
            hostname {self.name}
            /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random --no-monitor >> {d / 'ovs.log'} 2>&1
            exec /usr/sbin/sshd -D -e -f {d / 'sshd_config'}
            """))

    # -- remove -----------------------------------------------------------------------------------
    def remove(self) -> list[str]:
        """Stop and delete what machine.json names (and only that); what was removed."""
        record = self._record()
        removed = []
        for key in ("ssh_master", "init", "unshare"):
            entry = record.get(key)
            if self._alive(entry):
                os.kill(entry["pid"], signal.SIGKILL)
                removed.append(f"machine {self.name}: process {key} (pid {entry['pid']})")
        deadline = time.monotonic() + 5
        while any(self._alive(record.get(k)) for k in ("init", "unshare")) and time.monotonic() < deadline:
            time.sleep(0.02)
        if Path("/run/netns", self.netns).exists():
            command.run(["ip", "netns", "del", self.netns], check=False)
            removed.append(f"machine {self.name}: network namespace {self.netns}")
        if Path("/sys/class/net", self.outer).exists():
            command.run(["ip", "link", "del", self.outer], check=False)
            removed.append(f"machine {self.name}: interface {self.outer}")
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        return removed


def _only_child(pid: int) -> int | None:
    children = child_pids(pid)
    return children[0] if children else None


def simulated_machines(root: Path | None = None) -> list[SimulatedMachine]:
    """Every simulated machine with a directory under the machine root."""
    root = Path(root or MACHINE_ROOT)
    if not root.is_dir():
        return []
    machines = []
    for path in sorted(root.iterdir()):
        try:
            record = json.loads((path / "machine.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError, NotADirectoryError):
            continue
        machines.append(SimulatedMachine(record["name"], record["index"], root))
    return machines
