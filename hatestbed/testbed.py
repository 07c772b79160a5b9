"""The testbed's lifecycle: preflight → build → wait until healthy → (mode) → stop.

    Testbed(topology)
      .preflight()  root? binaries? Open vSwitch answering? → remove what crashed runs left
                    → controller port free? names free?
      .start()      run dir → controller, Mininet's hosts and links beside it → switches → host settings
                    → every bridge connected → every host answers a ping on every network, and the
                      fabric forwards between every two switches of each network (topo/reachability.py)
                    → services (hosts/manager.py: firewalls, databases, apps, web, LBs, VIP, monitoring)
      .stop()       services down → Mininet down → controller down → anything still recorded
                    removed → "stopped"

Every wait has a deadline and names what did not come up (NotReadyError). Everything created is
recorded in the run directory first (runtime/runstate.py; processes through runtime/processes.py), so
stop() and `--clean` remove exactly that.
"""

from __future__ import annotations

import ipaddress
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hatestbed.progress import NullProgress
from hosts.manager import ServiceManager
from hosts.roles import daemons_for
from hosts.site import Site
from hosts.tls import create_site_tls
from runtime import command
from runtime.controller import ControllerService
from topo.errors import TestbedError
from topo.model import Topology
from topo.plan import NetworkPlan, plan_network
from runtime.processes import ProcessOwner
from topo.reachability import probe_pairs
from runtime.runstate import (RunDir, active_runs, child_pids, clean_stale, interface_exists, list_bridges,
                           tagged_bridges)
from runtime.wait import NotReadyError, wait_until

# binary → the Debian package that provides it (named in the error a user sees).
REQUIRED_BINARIES = {
    "mnexec": "mininet",
    "ovs-vsctl": "openvswitch-switch",
    "ovs-ofctl": "openvswitch-switch",
    "ip": "iproute2",
    "ethtool": "ethtool",
    "ping": "iputils-ping",
    "ifconfig": "net-tools",
}
SETUP_HINT = "run `sudo ./testbed setup`"
# Pings in flight at once (ping_pairs): each is a process and, until answered, an echo every 50 ms.
PING_LIMIT = 32


def _drain(host, timeout: float) -> bool:
    """Read a host shell's output until its prompt returns; False if it did not within `timeout`."""
    deadline = time.monotonic() + timeout
    while host.waiting and time.monotonic() < deadline:
        # Mininet's own poll also wakes on "writable", so check readability ourselves.
        if host.readbuf or select.select([host.stdout], [], [], 0.05)[0]:
            host.monitor(findPid=False)
    return not host.waiting


# sizeof(sun_path) - 1 on Linux: a daemon cannot bind a longer UNIX socket path.
UNIX_PATH_MAX = 107


class PreflightError(TestbedError):
    """The machine is not ready for a run; nothing has been started."""


@dataclass
class Timings:
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, since: float) -> None:
        self.marks[name] = round(time.monotonic() - since, 3)


class Testbed:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, topology: Topology, run_root=None, progress=None):
        self.topology = topology
        self.progress = progress or NullProgress()  # bring-up phases here, trials in Experiment.run
        self.configured_topology = topology  # as written; retime() changes self.topology only
        self.plan: NetworkPlan = plan_network(topology)
        self.run_root = run_root
        self.run_dir: RunDir | None = None
        self.controller: ControllerService | None = None
        self.net = None
        self.site = None
        self.services: ServiceManager | None = None  # once started
        self.processes: ProcessOwner | None = None  # starts and records every process of the run
        self.timings = Timings()
        self.cleaned: list[str] = []  # what preflight removed of crashed runs
        self.machines: dict = {}  # the other machines of a split placement: name → runtime.machines.Machine

    # -- preflight ------------------------------------------------------------------------------
    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise PreflightError("must run as root (Mininet needs it): sudo python3 topo/run.py ...")
        for binary, package in REQUIRED_BINARIES.items():
            if shutil.which(binary) is None:
                raise PreflightError(f"missing program {binary!r} (Debian package {package}): {SETUP_HINT}")
        if not command.run(["ovs-vsctl", "--timeout=3", "show"], check=False).ok:
            raise PreflightError(f"Open vSwitch is not running (ovs-vsctl show fails): {SETUP_HINT}")
        # What crashed runs left goes first: their bridges would fail the name checks below.
        self.cleaned = clean_stale(self.run_root)
        active = active_runs(self.run_root)
        if active:
            raise PreflightError(f"another testbed run is active ({active[0].path}); stop it first")
        first = self.topology.controller.port
        for port in range(first, first + self.topology.controller.instances):
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    raise PreflightError(f"controller port {port} is in use (controller.port in the topology"
                                         f"{'' if port == first else ', plus one for the standby'})") from None
        if self.topology.services.enabled:
            # The directory start() will create, give or take the clock: only its length matters.
            site = Site(self.plan, RunDir.path_for(self.topology.name, self.run_root).absolute())
            daemons = daemons_for(site)
            missing = ServiceManager(site, daemons).missing_binaries()
            if missing:
                binary, package = missing[0]
                raise PreflightError(f"missing program {binary!r} (Debian package {package}): {SETUP_HINT}")
            for path in (path for daemon in daemons for path in daemon.sockets()):
                if len(os.fsencode(path)) > UNIX_PATH_MAX:
                    raise PreflightError(f"UNIX socket path {path} is longer than {UNIX_PATH_MAX} bytes; "
                                         "use a shorter run root (HATESTBED_RUN_ROOT) or topology name")
        existing = set(list_bridges())
        owners = tagged_bridges()
        for bridge in self.topology.switches:
            if bridge in owners:  # clean_stale() has removed crashed runs' bridges: this run is live
                raise PreflightError(f"another testbed run is active ({owners[bridge]}); stop it first")
            if bridge in existing:
                raise PreflightError(f"an OVS bridge named {bridge!r} exists and is not the testbed's; "
                                     "rename the switch in the topology or remove that bridge")
        for name in self.plan.root_namespace_interfaces():
            if interface_exists(name):
                raise PreflightError(f"an interface named {name!r} exists and is not the testbed's")

    # -- start ----------------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> None:
        from mininet.log import setLogLevel

        setLogLevel(os.environ.get("HATESTBED_MININET_LOG", "output"))
        began = time.monotonic()
        self.progress.bringup_started()
        try:
            self._bring_up(began, timeout)
        finally:
            self.progress.bringup_done()

    def _bring_up(self, began: float, timeout: float) -> None:
        from runtime.network import build_network, prepare_hosts

        self.run_dir = RunDir.create(self.topology.name, self.run_root)
        self.processes = ProcessOwner(self.run_dir)
        layout = self.topology.layout
        controller_host = "127.0.0.1"
        if layout.split:  # the other machines first: made (simulated) or checked (real)
            from runtime.cluster import LOCAL_SERVER, connect_machines
            self.machines, underlay = connect_machines(layout, self.topology.switches, self.run_dir)
            controller_host = underlay[LOCAL_SERVER]  # where every machine's switches reach it
            self._mark("machines_ready", began)
        self.controller = ControllerService(self.run_dir, self.plan.fabric(), self.topology.controller.port,
                                            self.topology.controller.instances, host=controller_host)
        # The controller's instances start (~1 s of Python, one after the other: the second
        # asks the first for its role) while Mininet builds the hosts and links beside them; the
        # switches start, and so connect, once the controller listens (OVS would otherwise back
        # off a second before trying again).
        with ThreadPoolExecutor(max_workers=1) as pool:
            listening = pool.submit(self.controller.start)
            try:
                if layout.split:
                    from runtime.cluster import build_cluster_network
                    from runtime.network import controller_targets
                    self.net = build_cluster_network(self.plan, self.run_dir,
                                                     controller_targets(self.controller.ports, controller_host),
                                                     self.machines, underlay)
                else:
                    self.net = build_network(self.plan, self.run_dir, self.controller.ports)
            finally:
                listening.result()  # its error first: nothing connects without it
        self._mark("controller_listening", began)
        self.net.start()
        prepare_hosts(self.net, self.plan)
        self._mark("network_built", began)
        wait_until(lambda: all(self.switch_connections().values()), timeout,
                   "every switch connected to the controller")
        self._mark("switches_connected", began)
        self.wait_reachable(timeout)
        self._mark("hosts_reachable", began)
        if self.topology.services.enabled:
            self.start_services()
            self._mark("services_ready", began)

    def _mark(self, name: str, began: float) -> None:
        self.timings.mark(name, began)
        self.progress.phase(name, self.timings.marks[name])

    def start_services(self) -> None:
        self.site = Site(self.plan, self.run_dir.path)
        create_site_tls(self.site)
        self.services = ServiceManager(self.site, daemons_for(self.site))
        self.services.start(self.net, self.processes)

    def retime(self, topology: Topology, daemons: tuple[str, ...] | None = None) -> list[dict]:
        """Run on with `topology`, which differs only in daemon settings (a timer sweep's next
        step, the suite's next profile): the named daemons (default: those whose rendered files
        change) restart on every host with their configuration rendered anew. The network stays
        as it is; a topology that would change it is refused (TestbedError)."""
        plan, site = self._same_network(topology)
        if daemons is None:
            daemons = self.services.changed_by(site, daemons_for(site))
        self.topology, self.plan, self.site = topology, plan, site
        return self.services.reconfigure(self.site, daemons, self.net)

    def changes_on_retime(self, topology: Topology) -> tuple[str, ...]:
        """The daemons a retime to `topology` would restart (TestbedError if it changes the network)."""
        _, site = self._same_network(topology)
        return self.services.changed_by(site, daemons_for(site))

    def _same_network(self, topology: Topology) -> tuple[NetworkPlan, Site]:
        plan = plan_network(topology)
        if (plan.interfaces, plan.switch_links) != (self.plan.interfaces, self.plan.switch_links):
            raise TestbedError("retime: the new topology changes the network, not only daemon settings")
        return plan, Site(plan, self.site.run_path)

    def wait_reachable(self, timeout: float) -> None:
        """Every host attached and the fabric forwarding on every network, within `timeout`: the
        pings of topo/reachability.py (about one per host), not every pair of hosts."""
        probes = probe_pairs(self.plan)
        failures = self.ping_pairs(probes, deadline=timeout)
        if failures:
            src, dst, ip = failures[0]
            raise NotReadyError(f"{src} could not reach {dst} ({ip}) within {timeout:g} s "
                                f"({len(failures)} of {len(probes)} probes unanswered)")

    # -- checks ---------------------------------------------------------------------------------
    def switch_connections(self) -> dict[str, bool]:
        """Switch name → connected to the controller and given its flows (the controller's journal;
        a dead controller journals no disconnects, so it counts as no connection at all)."""
        live = self.controller is not None and self.controller.alive()
        connected = self.controller.connected_dpids() if live else set()
        return {name: self.plan.dpid(name) in connected for name in self.topology.switches}

    def ping_pairs(self, pairs, deadline: float = 2.0,
                   limit: int = PING_LIMIT) -> list[tuple[str, str, ipaddress.IPv4Address]]:
        """Ping every (source, destination host, address); return the pairs with no reply.

        Each ping repeats every 50 ms until its first reply, so a pair that answers ends at
        once. At most `limit` pings run at a time (each one a process in its host): the next
        pair starts as one ends, with what is left of the deadline. Unbounded, as this once
        was (every pair at once, a shell per source), the all-pairs check of 48 servers and 16
        clients started ~2,900 pings and their ARP broadcasts in the same instant on two cores,
        and 1,346 went unanswered within 20 s. ping's -w takes whole seconds only (iputils
        20221126 refuses "0.5"), so a ping may outlive the deadline by under a second; a pair
        not started by the deadline counts as unanswered.
        """
        pairs = list(pairs)
        waiting = deque(range(len(pairs)))
        ends = time.monotonic() + deadline
        running: dict[int, subprocess.Popen] = {}
        unanswered: list[int] = []
        while waiting or running:
            left = ends - time.monotonic()
            while waiting and len(running) < limit and left > 0:
                index = waiting.popleft()
                src, _, ip = pairs[index]
                running[index] = self.net[src].popen(
                    ["ping", "-n", "-q", "-c1", "-i0.05", f"-w{math.ceil(left)}", str(ip)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if left <= 0:
                unanswered += waiting  # never started: no time left
                waiting.clear()
            done = [index for index, proc in running.items() if proc.poll() is not None]
            unanswered += [index for index in done if running.pop(index).returncode != 0]
            if not done:
                time.sleep(0.01)
        return [pairs[index] for index in sorted(unanswered)]

    # -- stop -----------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Tear everything down; return what had to be removed by record (empty when Mininet did it all)."""
        began = time.monotonic()
        problem = None
        try:
            if self.services is not None:
                self.services.stop()
            if self.net is not None:
                for host in self.net.hosts:
                    self._interrupt_command(host)
                self.net.stop()
        except Exception as exc:  # the records below still remove everything; report it after
            problem = exc
        self.net = None
        if self.controller is not None:
            self.controller.stop()
        leftovers = []
        if self.run_dir is not None:
            leftovers = self.run_dir.remove_owned()
            self.run_dir.set_state("stopped")
        self.timings.mark("teardown", began)
        if problem is not None:
            raise RuntimeError(f"Mininet's teardown failed ({problem}); removed by record: {leftovers}") from problem
        return leftovers

    @staticmethod
    def _interrupt_command(host) -> None:
        """A host interrupted mid-command (Ctrl-C, SIGTERM) must answer its shell again before
        Mininet's teardown talks to it: ^C, and if the command ignores it (commands from a
        script run with SIGINT ignored), kill the shell's children by pid. A signal can land
        between Mininet writing a command and marking the host busy, so a running child counts
        as busy too."""
        if getattr(host, "machine", None) is not None:
            return  # its pid is another machine's: its processes are stopped by record there
        if not host.waiting and not child_pids(host.pid):
            return
        host.sendInt()
        host.waiting = True  # read up to the prompt the interrupted command leaves behind
        if _drain(host, 0.5):
            return
        for child in child_pids(host.pid):
            os.kill(child, signal.SIGKILL)
        if not _drain(host, 2.0):
            raise RuntimeError(f"{host.name}'s shell does not answer after its command was stopped")
