"""Reversible fault injectors: the building blocks every experiment (and the SPOF sweep) uses.

    fault = NodeCrash(testbed, "server1")      # arguments are checked here (FaultError)
    details = fault.inject()                   # does it; fault.injected_at = just before
    ...observe...
    details = fault.recover()                  # undoes it; idempotent; fault.recovered_at
    fault.describe()                           # {"kind": "node_crash", "host": "server1"}

    with NodeCrash(testbed, "server1") as details: ...   # inject, then recover on the way out

    NodeCrash(tb, host)              inject:  SIGKILL every recorded daemon of the host (process
                                              groups), drop runtime-only addresses (a VIP), host
                                              ends of its links down (the switch port loses
                                              carrier: the controller gets a port-status)
                                     recover: links up, daemons restarted stage by stage, ready
    DaemonKill(tb, host, daemon,     inject:  the signal to the daemon's recorded process group
               sig=SIGKILL)                   (or its pid only, group=False)
                                     recover: SIGCONT after SIGSTOP; else restart if it exited
    LinkDown(tb, a, b)               inject:  both ends of the a-b link(s) admin down
                                     recover: both ends up
    Partition(tb, [hosts], [hosts])  inject:  the controller drops every frame between the two
                                              groups' MACs (over its control channel)
                                     recover: the controller removes those flows
    ControllerStop(tb)               inject:  SIGTERM to the controller's recorded pid (switches
                                              are fail-secure: their flows stay)
                                     recover: controller started again, every switch reconnected
                                              and reprogrammed

Every inject()/recover() returns a JSON-serialisable dict: what exactly was touched (pids,
interfaces, flows), unix timestamps, and what the controller's journal saw (port-status times).
Processes are found only through the testbed's records (ServiceManager / ControllerProcess),
never by name. Every wait has a deadline (topo.wait.wait_until). Errors raise FaultError.

Helpers: active_path(testbed, src, dst) follows the switches' own flow tables (table 1,
eth_dst → output port) from src's switch towards dst; active_switch_link() picks the
inter-switch link on it, so an experiment cuts the link actually carrying the traffic.

Commands run with topo.command (exit codes checked, inside the host's namespaces via popen), not
through Mininet's Node.cmd(): a host's shell may be busy with an experiment's command, and
cmd() drops the exit code. So LinkDown does what Mininet's configLinkStatus() does (ifconfig
both ends), with `ip link` and checked results.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import signal
import subprocess
import time
from collections import defaultdict

from topo import command
from topo.controller import ControllerError
from topo.wait import NotReadyError, wait_until

# Deadlines (seconds).
PROCESS_EXIT_TIMEOUT = 5.0  # a killed daemon has gone (reaped)
PORT_EVENT_TIMEOUT = 3.0  # the controller's journal shows the port-status of a downed port
SWITCH_RECONNECT_TIMEOUT = 30.0  # switches retry a lost controller every <= 1 s (Mininet's max_backoff)
LEARN_TIMEOUT = 5.0  # a destination MAC gets a flow after a ping


class FaultError(RuntimeError):
    """A fault could not be set up, injected or recovered; the message says what and where."""


def _now() -> float:
    return time.time()


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _require_started(testbed) -> None:
    if testbed.net is None or testbed.controller is None:
        raise FaultError("the testbed is not started (no network)")


def _require_services(testbed) -> None:
    if testbed.services is None:
        raise FaultError("the testbed's services are not running (services disabled or not started)")


def _check_host(testbed, host: str) -> None:
    if host not in testbed.topology.hosts:
        raise FaultError(f"unknown host {host!r}; hosts: {', '.join(testbed.topology.hosts)}")


def _dpid(switch: str) -> int:
    return int(switch[1:])


# -- the controller's journal ---------------------------------------------------------------------
def _port_events(testbed, since: float, ports: set[tuple[str, int]], up: bool,
                 timeout: float = PORT_EVENT_TIMEOUT) -> dict[str, float | None]:
    """{"s1:3": unix time of the first port-status with this `up` since `since`, or None}.

    Waits (bounded) until every port has one; a stopped controller sees nothing: all None.
    """
    wanted = {(_dpid(sw), port): f"{sw}:{port}" for sw, port in ports}
    seen: dict[str, float | None] = {name: None for name in wanted.values()}
    controller = testbed.controller

    def check() -> bool:
        for event in controller.events():
            if event.get("event") != "port_status" or event.get("t", 0) < since:
                continue
            key = (event.get("dpid"), event.get("port"))
            if key in wanted and event.get("up") == up and seen[wanted[key]] is None:
                seen[wanted[key]] = event["t"]
        return all(t is not None for t in seen.values())

    if controller is None or not controller.alive():
        return seen
    try:
        wait_until(check, timeout, "the controller's port-status events", interval=0.05)
    except NotReadyError:
        pass  # reported as None: the caller's details say the controller did not see it
    return seen


# -- interfaces -------------------------------------------------------------------------------------
def _set_link(intf: str, state: str, node=None) -> None:
    """`ip link set dev <intf> up|down`, in `node`'s namespace (None: the root namespace)."""
    command.run(["ip", "link", "set", "dev", intf, state], node, timeout=10)


def _carrier(intf: str) -> bool:
    """The root-namespace interface (a switch port's veth end) is up with carrier."""
    try:
        return open(f"/sys/class/net/{intf}/operstate").read().strip() == "up"
    except OSError:
        return False


def _runtime_addresses(testbed, host: str) -> list[tuple[str, str]]:
    """(interface, address/prefix) of IPv4 addresses on the host that the plan did not give it
    (a floating VIP): state a power-off loses."""
    node = testbed.net[host]
    planned = {(i.name, str(i.ip)) for i in testbed.plan.host_interfaces(host)}
    extra = []
    for intf in testbed.plan.host_interfaces(host):
        out = command.check_output(["ip", "-4", "-o", "addr", "show", "dev", intf.name], node, timeout=5)
        for match in re.finditer(r"\binet (\S+)", out):
            cidr = match.group(1)
            if (intf.name, str(ipaddress.ip_interface(cidr).ip)) not in planned:
                extra.append((intf.name, cidr))
    return extra


class Fault:
    """Base class: the common shape (see the module docstring)."""

    kind = "fault"

    def __init__(self, testbed):
        self.testbed = testbed
        self.injected_at: float | None = None
        self.recovered_at: float | None = None

    def describe(self) -> dict:
        return {"kind": self.kind}

    def inject(self) -> dict:
        raise NotImplementedError

    def recover(self) -> dict:
        raise NotImplementedError

    def _details(self, **fields) -> dict:
        return {**self.describe(), **fields}

    def __enter__(self) -> dict:
        return self.inject()

    def __exit__(self, *exc) -> None:
        self.recover()

    def __repr__(self) -> str:
        target = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"{type(self).__name__}({target})"


# -- daemons ----------------------------------------------------------------------------------------
def _kill_daemon(testbed, daemon, sig: int, group: bool = True) -> dict:
    """Send `sig` to a daemon by its recorded pid (and process group). The record, not a name."""
    manager = testbed.services
    proc, record = manager.processes[daemon.label]
    if group:
        record.send(sig)  # killpg: workers (nginx, gunicorn, keepalived's children) too
    else:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    return {"daemon": daemon.label, "pid": proc.pid, "signal": _signame(sig), "group": group}


def _wait_exit(testbed, daemon, timeout: float = PROCESS_EXIT_TIMEOUT) -> dict:
    """Reap the daemon's process (bounded); its exit time and code."""
    proc, _ = testbed.services.processes[daemon.label]
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return {"exited": False}
    return {"exited": True, "exited_at": _now(), "returncode": code}


def _restart(testbed, daemons, after_ready: bool) -> tuple[list[dict], list[str]]:
    """Restart daemons stage by stage (each ready before the next stage); per stage also
    after_ready (replicas re-attach, one VRRP master). Errors are collected, not raised, so one
    failure does not leave the rest down."""
    manager, net = testbed.services, testbed.net
    stages = defaultdict(list)
    for daemon in daemons:
        stages[daemon.stage].append(daemon)
    restarted, errors = [], []
    for stage in sorted(stages):
        started = []
        for daemon in stages[stage]:
            began = _now()
            if manager.running(daemon):
                restarted.append({"daemon": daemon.label, "pid": manager.pid(daemon), "already_running": True})
                continue
            try:
                manager.restart_daemon(daemon, net, testbed.run_dir)
            except Exception as exc:
                errors.append(f"{daemon.label}: {exc}")
                continue
            restarted.append({"daemon": daemon.label, "pid": manager.pid(daemon), "started_at": began,
                              "ready_at": _now(), "ready_s": round(_now() - began, 3)})
            started.append(daemon)
        if after_ready:
            for daemon in started:
                try:
                    daemon.after_ready(net[daemon.host])
                except Exception as exc:
                    errors.append(f"{daemon.label} after start: {exc}")
    return restarted, errors


class NodeCrash(Fault):
    """A powered-off host: its daemons SIGKILLed (whole process groups), its runtime-only
    addresses gone (a VIP it held), its interfaces down. The Mininet host shell survives (the
    namespace must stay for recovery); processes the testbed did not start are not touched.

    side="host" (default) downs the host's end of each veth: the switch port stays admin-up
    and loses carrier, as when a machine powers off; the controller gets a port-status.
    side="both" also downs the switch end (admin down).

    recover(): interfaces up, then every daemon killed is started again in stage order with
    ServiceManager.restart_daemon (MariaDB keeps its datadir: prepare() copies the template only
    when there is none; InnoDB recovers from the crash), each waited ready, then its
    after_ready() (a replica re-attaches to the topology's primary, keepalived waits for one
    VRRP master) unless after_ready=False. The firewall (iptables) is not a process: its rules
    stay in the namespace, as a persistent configuration would be re-applied at boot.
    """

    kind = "node_crash"

    def __init__(self, testbed, host: str, side: str = "host", after_ready: bool = True):
        super().__init__(testbed)
        _check_host(testbed, host)
        if side not in ("host", "both"):
            raise FaultError(f"node_crash: side must be 'host' or 'both', got {side!r}")
        self.host = host
        self.side = side
        self.after_ready = after_ready

    def describe(self) -> dict:
        return {"kind": self.kind, "host": self.host}

    def _daemons(self) -> list:
        manager = self.testbed.services
        if manager is None:
            return []
        return [d for d in manager.daemons_on(self.host) if d.label in manager.processes]

    def inject(self) -> dict:
        _require_started(self.testbed)
        testbed, node = self.testbed, self.testbed.net[self.host]
        manager = testbed.services
        interfaces = testbed.plan.host_interfaces(self.host)
        ports = {(i.switch, i.switch_port) for i in interfaces if _carrier(i.switch_intf)}  # to see go down
        self.injected_at = _now()
        victims = [d for d in self._daemons() if manager.running(d)]
        killed = [_kill_daemon(testbed, d, signal.SIGKILL) for d in victims]  # all first, then reap
        for entry, daemon in zip(killed, victims):
            entry.update(_wait_exit(testbed, daemon))
        addresses = _runtime_addresses(testbed, self.host)
        for intf, cidr in addresses:
            command.run(["ip", "addr", "del", cidr, "dev", intf], node, timeout=10)
        downed = []
        for intf in interfaces:
            _set_link(intf.name, "down", node)
            downed.append(intf.name)
            if self.side == "both":
                _set_link(intf.switch_intf, "down")
                downed.append(intf.switch_intf)
        done = _now()
        seen = _port_events(testbed, self.injected_at, ports, up=False)
        return self._details(injected_at=self.injected_at, done_at=done,
                             duration_s=round(done - self.injected_at, 3), killed=killed,
                             addresses_removed=[f"{cidr} dev {intf}" for intf, cidr in addresses],
                             interfaces_down=downed, controller_port_down=seen)

    def recover(self) -> dict:
        _require_started(self.testbed)
        testbed = self.testbed
        interfaces = testbed.plan.host_interfaces(self.host)
        ports = {(i.switch, i.switch_port) for i in interfaces if not _carrier(i.switch_intf)}  # to see come up
        self.recovered_at = _now()
        # Every interface of the host, whatever inject() managed to do (idempotent: `ip link
        # set up` on an up interface is a no-op). Switch ends first so carrier comes at once.
        upped = []
        for intf in interfaces:
            _set_link(intf.switch_intf, "up")
            _set_link(intf.name, "up", testbed.net[self.host])
            upped += [intf.switch_intf, intf.name]
        links_up_at = _now()
        seen = _port_events(testbed, self.recovered_at, ports, up=True)
        restarted, errors = ([], [])
        if testbed.services is not None:
            # Also daemons of this host that died otherwise meanwhile: the host "booted".
            restarted, errors = _restart(testbed, self._daemons(), self.after_ready)
        ready = _now()
        details = self._details(recovered_at=self.recovered_at, links_up_at=links_up_at,
                                ready_at=ready, duration_s=round(ready - self.recovered_at, 3),
                                interfaces_up=upped, controller_port_up=seen, restarted=restarted)
        if errors:
            raise FaultError(f"node_crash {self.host}: recovery incomplete: {'; '.join(errors)}")
        return details


class DaemonKill(Fault):
    """A signal to one daemon on one host, by its recorded pid: the whole process group
    (group=True, default: workers die with their master) or the main pid only.

    sig=SIGKILL (default) or SIGTERM: recover() kills what is left of the group and restarts
    the daemon (ready, then after_ready unless after_ready=False).
    sig=SIGSTOP: a hung daemon; recover() sends SIGCONT.
    Any other signal (SIGHUP...): recover() restarts the daemon only if it has exited.
    """

    kind = "daemon_kill"

    def __init__(self, testbed, host: str, daemon_name: str, sig: int = signal.SIGKILL,
                 group: bool = True, after_ready: bool = True):
        super().__init__(testbed)
        _check_host(testbed, host)
        _require_services(testbed)
        try:
            self.daemon = testbed.services.find(host, daemon_name)
        except KeyError:
            names = [d.name for d in testbed.services.daemons_on(host)]
            raise FaultError(f"no daemon {daemon_name!r} on {host}; it runs: {', '.join(names) or 'nothing'}") from None
        if self.daemon.command() is None:
            raise FaultError(f"{self.daemon.label} is a host setting, not a process: nothing to signal")
        try:
            self.sig = signal.Signals(sig)
        except ValueError:
            raise FaultError(f"daemon_kill: {sig!r} is not a signal") from None
        self.host = host
        self.group = group
        self.after_ready = after_ready

    def describe(self) -> dict:
        return {"kind": self.kind, "host": self.host, "daemon": self.daemon.name,
                "signal": self.sig.name, "group": self.group}

    def inject(self) -> dict:
        _require_started(self.testbed)
        manager = self.testbed.services
        if not manager.running(self.daemon):
            raise FaultError(f"{self.daemon.label} is not running: nothing to signal")
        self.injected_at = _now()
        sent = _kill_daemon(self.testbed, self.daemon, self.sig, self.group)
        if self.sig in (signal.SIGKILL, signal.SIGTERM):
            sent.update(_wait_exit(self.testbed, self.daemon))
        done = _now()
        return self._details(injected_at=self.injected_at, done_at=done, **sent)

    def recover(self) -> dict:
        _require_started(self.testbed)
        manager = self.testbed.services
        self.recovered_at = _now()
        action = "none"
        restarted, errors = [], []
        if self.sig == signal.SIGSTOP:
            if self.daemon.label in manager.processes:
                manager.processes[self.daemon.label][1].send(signal.SIGCONT)
                action = "SIGCONT"
        if not manager.running(self.daemon):
            # The leader is gone; a worker it left (pid signalled alone) may still hold a port.
            if self.daemon.label in manager.processes:
                manager.processes[self.daemon.label][1].send(signal.SIGKILL)
            restarted, errors = _restart(self.testbed, [self.daemon], self.after_ready)
            action = "restart"
        ready = _now()
        details = self._details(recovered_at=self.recovered_at, ready_at=ready,
                                duration_s=round(ready - self.recovered_at, 3), action=action,
                                pid=manager.pid(self.daemon), restarted=restarted)
        if errors:
            raise FaultError(f"daemon_kill {self.daemon.label}: recovery failed: {'; '.join(errors)}")
        return details


# -- links ------------------------------------------------------------------------------------------
class LinkDown(Fault):
    """A cut link between two switches, or a switch and a host: both veth ends admin down (as
    Mininet's configLinkStatus does), so the switch reports a port-status to the controller.
    Parallel links between the same two nodes all go down (index= picks one, in plan order).
    """

    kind = "link_down"

    def __init__(self, testbed, a: str, b: str, index: int | None = None):
        super().__init__(testbed)
        self.a, self.b, self.index = a, b, index
        self.ends = self._find_ends(testbed, a, b, index)  # [(intf, host or None), (intf, host or None)]

    @staticmethod
    def _find_ends(testbed, a: str, b: str, index: int | None) -> list[list[tuple[str, str | None]]]:
        plan = testbed.plan
        switches, hosts = set(testbed.topology.switches), set(testbed.topology.hosts)
        for name in (a, b):
            if name not in switches and name not in hosts:
                raise FaultError(f"link_down: unknown node {name!r} (switches: {', '.join(sorted(switches))})")
        found = []
        if a in switches and b in switches:
            for link in plan.switch_links:
                if {link.a, link.b} == {a, b}:
                    ia, ib = link.intf_names
                    found.append([(ia, None), (ib, None)])
        else:
            host, switch = (a, b) if a in hosts else (b, a)
            if switch not in switches:
                raise FaultError(f"link_down: {a} and {b} are both hosts; a link has a switch at one end")
            for intf in plan.host_interfaces(host):
                if intf.switch == switch:
                    found.append([(intf.name, host), (intf.switch_intf, None)])
        if not found:
            raise FaultError(f"link_down: there is no link between {a} and {b}")
        if index is not None:
            if not 0 <= index < len(found):
                raise FaultError(f"link_down: {a}-{b} has {len(found)} link(s); index {index} is out of range")
            found = [found[index]]
        return found

    def describe(self) -> dict:
        d = {"kind": self.kind, "a": self.a, "b": self.b}
        if self.index is not None:
            d["index"] = self.index
        return d

    def _switch_ports(self, carrier: bool) -> set[tuple[str, int]]:
        """Switch ports of the link whose carrier is now `carrier` (those that will change)."""
        ports = set()
        for pair in self.ends:
            for intf, host in pair:
                if host is None and _carrier(intf) == carrier:  # "s1-eth3"
                    switch, _, port = intf.partition("-eth")
                    ports.add((switch, int(port)))
        return ports

    def _set(self, state: str) -> list[str]:
        touched = []
        for pair in self.ends:
            for intf, host in pair:
                _set_link(intf, state, self.testbed.net[host] if host else None)
                touched.append(intf)
        return touched

    def inject(self) -> dict:
        _require_started(self.testbed)
        ports = self._switch_ports(carrier=True)
        self.injected_at = _now()
        touched = self._set("down")
        done = _now()
        seen = _port_events(self.testbed, self.injected_at, ports, up=False)
        return self._details(injected_at=self.injected_at, done_at=done, interfaces_down=touched,
                             controller_port_down=seen)

    def recover(self) -> dict:
        _require_started(self.testbed)
        ports = self._switch_ports(carrier=False)
        self.recovered_at = _now()
        touched = self._set("up")
        done = _now()
        seen = _port_events(self.testbed, self.recovered_at, ports, up=True)
        return self._details(recovered_at=self.recovered_at, done_at=done, interfaces_up=touched,
                             controller_port_up=seen)

    @classmethod
    def on_active_path(cls, testbed, src: str, dst: str, hop: int = 0) -> LinkDown:
        """The cut of the `hop`-th inter-switch link on the path src → dst (host or MAC) now in use."""
        a, b = active_switch_link(testbed, src, dst, hop)
        return cls(testbed, a, b)


_OUTPUT = re.compile(r"priority=(\d+).*\bactions=output:(\d+)\s*$")


def _out_port(switch: str, mac: str) -> int | None:
    """The port `switch` forwards frames for `mac` to (table 1, highest-priority dl_dst entry)."""
    out = command.check_output(["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", switch,
                                f"table=1,dl_dst={mac}"], timeout=10)
    return parse_out_port(out, mac)


def parse_out_port(dump: str, mac: str) -> int | None:
    """From `ovs-ofctl dump-flows` text: the output port of the highest-priority entry matching
    exactly dl_dst=`mac` with a single output action (None if there is none)."""
    best = None
    for line in dump.splitlines():
        if f"dl_dst={mac}" not in line:
            continue
        match = _OUTPUT.search(line.strip())
        if match and (best is None or int(match.group(1)) > best[0]):
            best = (int(match.group(1)), int(match.group(2)))
    return best[1] if best else None


def _endpoint(testbed, src: str, dst: str):
    """(src's HostInterface facing dst, dst MAC, dst address to ping or None)."""
    _check_host(testbed, src)
    plan = testbed.plan
    src_intfs = plan.host_interfaces(src)
    if dst in testbed.topology.hosts:
        for sintf in src_intfs:
            for dintf in plan.host_interfaces(dst):
                if sintf.network == dintf.network:
                    return sintf, dintf.mac, str(dintf.ip)
        raise FaultError(f"{src} and {dst} share no network")
    try:
        from controllers.fabric import normalize_mac
        mac = normalize_mac(dst)
    except ValueError:
        raise FaultError(f"{dst!r} is neither a host nor a MAC address") from None
    owner = next((i for i in plan.interfaces if i.mac == mac), None)
    if owner is not None:
        sintf = next((i for i in src_intfs if i.network == owner.network), None)
        if sintf is None:
            raise FaultError(f"{src} shares no network with {owner.host} ({mac})")
        return sintf, mac, str(owner.ip)
    return src_intfs[0], mac, None


def active_path(testbed, src: str, dst: str, timeout: float = LEARN_TIMEOUT) -> list[dict]:
    """The switches frames from host `src` to `dst` (a host name or a MAC) cross now, read from
    the switches' flow tables: [{"switch", "out_port", "next": switch or None (dst's edge port)}].

    If a switch has no entry for the MAC yet (never learned), `src` pings `dst` once to make it
    talk, and the walk is retried until `timeout`.
    """
    _require_started(testbed)
    sintf, mac, ip = _endpoint(testbed, src, dst)
    plan = testbed.plan
    isl = {}
    for link in plan.switch_links:
        isl[(link.a, link.a_port)] = link.b
        isl[(link.b, link.b_port)] = link.a

    def walk() -> list[dict] | None:
        hops, switch = [], sintf.switch
        for _ in range(len(testbed.topology.switches) + 1):
            port = _out_port(switch, mac)
            if port is None:
                return None
            nxt = isl.get((switch, port))
            hops.append({"switch": switch, "out_port": port, "next": nxt})
            if nxt is None:
                return hops
            switch = nxt
        raise FaultError(f"the flows for {mac} loop: {hops}")

    path = walk()
    if path is not None:
        return path
    if ip is not None:
        command.run(["ping", "-n", "-q", "-c1", "-W1", ip], testbed.net[src], check=False, timeout=5)
    try:
        return wait_until(walk, timeout, f"a forwarding entry for {mac} on the path from {src}", interval=0.1)
    except NotReadyError as exc:
        raise FaultError(str(exc)) from None


def active_switch_link(testbed, src: str, dst: str, hop: int = 0) -> tuple[str, str]:
    """(a, b): the `hop`-th inter-switch link (in travel order) frames from `src` to `dst` (a host
    name or a MAC, e.g. the VIP holder's) use now. FaultError if they cross no such link."""
    links = [(h["switch"], h["next"]) for h in active_path(testbed, src, dst) if h["next"] is not None]
    if not links:
        raise FaultError(f"the path from {src} to {dst} crosses no inter-switch link (same switch)")
    if not 0 <= hop < len(links):
        raise FaultError(f"the path from {src} to {dst} crosses {len(links)} inter-switch link(s); "
                         f"hop {hop} is out of range")
    return links[hop]


# -- partition ----------------------------------------------------------------------------------------
class Partition(Fault):
    """The controller drops every frame between two groups of hosts (all their interfaces' MACs,
    both directions, on every switch): unicast in table 0, and broadcast/multicast (ARP, VRRP
    adverts) on the other side's edge ports. Asked over the controller's control channel; the
    answer comes once the flows are confirmed (barrier) on every connected switch.

    A controller restarted meanwhile (ControllerStop) forgets the partition and wipes the
    switches: recover() then finds nothing to remove.
    """

    kind = "partition"

    def __init__(self, testbed, group_a: list[str], group_b: list[str], name: str | None = None):
        super().__init__(testbed)
        if isinstance(group_a, str) or isinstance(group_b, str):
            raise FaultError("partition: groups are lists of host names, e.g. ['client1']")
        self.group_a, self.group_b = list(group_a), list(group_b)
        for label, group in (("group_a", self.group_a), ("group_b", self.group_b)):
            if not group:
                raise FaultError(f"partition: {label} is empty")
            for host in group:
                _check_host(testbed, host)
        both = set(self.group_a) & set(self.group_b)
        if both:
            raise FaultError(f"partition: {', '.join(sorted(both))} on both sides")
        self.name = name or self._default_name()
        self.macs_a = [i.mac for h in self.group_a for i in testbed.plan.host_interfaces(h)]
        self.macs_b = [i.mac for h in self.group_b for i in testbed.plan.host_interfaces(h)]

    def _default_name(self) -> str:
        name = f"{'+'.join(self.group_a)}|{'+'.join(self.group_b)}"
        if len(name) > 64:
            name = name[:55] + "~" + hashlib.sha1(name.encode()).hexdigest()[:8]
        return name

    def describe(self) -> dict:
        return {"kind": self.kind, "name": self.name, "group_a": self.group_a, "group_b": self.group_b}

    def _request(self, message: dict) -> dict:
        try:
            return self.testbed.controller.request(message)
        except ControllerError as exc:
            raise FaultError(f"partition {self.name}: {exc}") from None

    def inject(self) -> dict:
        _require_started(self.testbed)
        self.injected_at = _now()
        answer = self._request({"op": "partition", "name": self.name,
                                "macs_a": self.macs_a, "macs_b": self.macs_b})
        done = _now()
        return self._details(injected_at=self.injected_at, done_at=done, macs_a=self.macs_a,
                             macs_b=self.macs_b, t_installed=answer.get("t_installed"),
                             switches=answer.get("switches"), lost_switches=answer.get("lost_switches"),
                             partition_flows_total=answer.get("partition_flows_total"))

    def recover(self) -> dict:
        _require_started(self.testbed)
        self.recovered_at = _now()
        answer = self._request({"op": "heal", "name": self.name})
        done = _now()
        return self._details(recovered_at=self.recovered_at, done_at=done, removed=answer.get("removed"),
                             t_installed=answer.get("t_installed"), switches=answer.get("switches"))


# -- controller ----------------------------------------------------------------------------------------
def _flow_counts(testbed) -> dict[str, int | None]:
    counts = {}
    for switch in testbed.topology.switches:
        result = command.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", switch], check=False, timeout=10)
        match = re.search(r"flow_count=(\d+)", result.stdout)
        counts[switch] = int(match.group(1)) if result.ok and match else None
    return counts


class ControllerStop(Fault):
    """The controller process stopped (SIGTERM to its recorded pid, SIGKILL after 3 s).

    Switches are fail-mode secure: they keep every flow and forward what those flows cover
    (learned hosts, flooding); nothing new is learned and link cuts are not repaired until the
    controller is back. recover() starts it again (ControllerProcess.start) and waits until every
    switch has reconnected and been reprogrammed (wiped, then the fabric's flows; hosts are
    learned again from their next packets). Mininet sets the switches' controller max_backoff to
    1 s, so they reconnect within about a second of the new controller listening.
    """

    kind = "controller_stop"

    def __init__(self, testbed, timeout: float = SWITCH_RECONNECT_TIMEOUT):
        super().__init__(testbed)
        self.timeout = timeout

    def describe(self) -> dict:
        return {"kind": self.kind}

    def inject(self) -> dict:
        _require_started(self.testbed)
        controller = self.testbed.controller
        if not controller.alive():
            raise FaultError("controller_stop: the controller is not running")
        pid = controller.process.pid
        before = _flow_counts(self.testbed)
        self.injected_at = _now()
        controller.stop()  # SIGTERM (Popen.terminate, by pid), SIGKILL after its timeout
        done = _now()
        return self._details(injected_at=self.injected_at, done_at=done, pid=pid,
                             returncode=controller.process.returncode,
                             flows_before=before, flows_after=_flow_counts(self.testbed))

    def recover(self) -> dict:
        _require_started(self.testbed)
        controller, testbed = self.testbed.controller, self.testbed
        self.recovered_at = _now()
        if controller.alive():
            return self._details(recovered_at=self.recovered_at, action="none (controller running)",
                                 pid=controller.process.pid)
        controller.start()
        listening = _now()
        wanted = {_dpid(s): s for s in testbed.topology.switches}
        since = self.recovered_at
        connected: dict[str, float] = {}
        programmed: dict[str, float] = {}

        def all_back() -> bool:
            for event in controller.events():
                if event.get("t", 0) < since:
                    continue
                dpid = event.get("dpid")
                if event["event"] == "switch_connected" and dpid in wanted:
                    connected.setdefault(wanted[dpid], event["t"])
                elif event["event"] == "flows_installed" and event.get("cause") == "switch_connected":
                    for d in event.get("dpids", []):
                        if d in wanted:
                            programmed.setdefault(wanted[d], event["t"])
            return len(programmed) == len(wanted)

        try:
            wait_until(all_back, self.timeout, "every switch reconnected to the restarted controller",
                       interval=0.05)
        except NotReadyError as exc:
            missing = sorted(set(wanted.values()) - set(programmed))
            raise FaultError(f"controller_stop: {exc}; missing: {', '.join(missing)}") from None
        done = _now()
        return self._details(recovered_at=self.recovered_at, listening_at=listening, ready_at=done,
                             duration_s=round(done - self.recovered_at, 3), pid=controller.process.pid,
                             switch_connected=connected, switch_programmed=programmed,
                             flows_after=_flow_counts(testbed))


FAULTS = {cls.kind: cls for cls in (NodeCrash, DaemonKill, LinkDown, Partition, ControllerStop)}
