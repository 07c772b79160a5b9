"""node:<host>: a powered-off host; processes:<host>: every daemon of a host crashed, the host up.

    node:      inject   every recorded daemon frozen (SIGSTOP, whole process groups: none can
                        react), host ends of its links down (the switch port loses carrier, the
                        controller gets a port-status), then SIGKILL and drop runtime-only
                        addresses (a VIP it held): a powered-off machine says nothing, so no
                        RST or FIN may leave it; killed behind a dead link, the kernel's resets
                        go nowhere
    processes: inject   SIGKILL every recorded daemon; links and addresses stay, so the kernel
                        still answers: a connection to a dead port is refused at once (RST), and
                        HAProxy's checks and retries see that instead of a timeout
    recover  (both)     links up, then every daemon killed started again stage by stage, each
                        ready, then its after_ready() (a replica re-attaches, keepalived waits
                        for one VRRP master)

    time ──▶        frozen   links down   daemons killed
    node:              │ t0       │ t0 + ms      │ later         (nothing leaves the host after t0)
    processes:                                   │ t0            (the kernel answers from t0 on)
"""

from __future__ import annotations

import signal

from experiments.faults.base import Fault, FaultError, check_host, now, require_started, set_link, signame
from runtime import command, observe


def kill_line(sig: str, victims: list) -> list[str]:
    """`kill -<sig>` of every victim's process group, a line of a script run on their machine."""
    return [f"kill -{sig} {' '.join(f'-{proc.pid}' for proc in victims)} 2>/dev/null || true"] if victims else []


def host_link_line(node, intf: str, state: str) -> str:
    """`ip link set` of an interface inside a host, a line of a script run on the host's machine."""
    return f"mnexec -a {node.pid} ip link set dev {intf} {state}"


def drop_runtime_addresses(testbed, host: str) -> list[tuple[str, str]]:
    """Remove the addresses a power-off loses (a VIP the host held); (interface, cidr) removed."""
    addresses = observe.runtime_addresses(testbed, host)
    for intf, cidr in addresses:
        command.run(["ip", "addr", "del", cidr, "dev", intf], testbed.net[host], timeout=10)
    return addresses


class NodeCrash(Fault):
    """A powered-off host. The Mininet host shell survives (the namespace must stay for
    recovery); processes the testbed did not start are not touched.

    side="host" (default) downs the host's end of each veth: the switch port stays admin-up
    and loses carrier. side="both" also downs the switch end (admin down).

    recover(): MariaDB keeps its datadir (prepare() copies the template only when there is
    none; InnoDB recovers from the crash); after_ready=False skips the re-attach steps. The
    firewall (iptables) is not a process: its rules stay in the namespace, as a persistent
    configuration would be re-applied at boot.
    """

    kind = "node_crash"
    links_down = True  # ProcessCrash: False

    def __init__(self, testbed, host: str, side: str = "host", after_ready: bool = True):
        super().__init__(testbed)
        check_host(testbed, host)
        if side not in ("host", "both"):
            raise FaultError(f"node_crash: side must be 'host' or 'both', got {side!r}")
        self.host = host
        self.side = side
        self.after_ready = after_ready

    @property
    def address(self) -> str:
        return f"node:{self.host}"

    def target(self) -> dict:
        return {"host": self.host}

    def _daemons(self) -> list:
        manager = self.testbed.services
        if manager is None:
            return []
        return [d for d in manager.daemons_on(self.host) if d.label in manager.processes]

    def inject(self) -> dict:
        require_started(self.testbed)
        testbed, node = self.testbed, self.testbed.net[self.host]
        interfaces = testbed.plan.host_interfaces(self.host)
        ports = {(i.switch, i.switch_port) for i in interfaces
                 if observe.carrier(i.switch_intf, testbed.net[i.switch])}  # to see go down
        self.injected_at = now()
        downed = []
        victims = self._running()
        if self.links_down and getattr(node, "machine", None) is not None:
            downed = self._down_there(node, victims, interfaces)
        elif self.links_down:
            # Frozen first (SIGSTOP, a few ms): no daemon may react to its links going down (a
            # keepalived would go FAULT and drop the VIP itself) or close a socket before they
            # are down; the kernel sends nothing for a stopped process. Then nothing the dying
            # host sends reaches anyone.
            for proc in victims:
                proc.send(signal.SIGSTOP)
            for intf in interfaces:
                set_link(intf.name, "down", node)
                downed.append(intf.name)
                if self.side == "both":
                    set_link(intf.switch_intf, "down", observe.on_machine(testbed.net[intf.switch]))
                    downed.append(intf.switch_intf)
        links_down_at = now()
        killed = self._kill(victims)
        # A powered-off host holds no VIP when it boots again.
        addresses = drop_runtime_addresses(testbed, self.host) if self.links_down else []
        done = now()
        seen = observe.port_events(testbed, self.injected_at, ports, up=False) if self.links_down else {}
        return self._details(injected_at=self.injected_at, done_at=done,
                             duration_s=round(done - self.injected_at, 3),
                             **({"links_down_at": links_down_at} if self.links_down else {}), killed=killed,
                             addresses_removed=[f"{cidr} dev {intf}" for intf, cidr in addresses],
                             interfaces_down=downed, controller_port_down=seen)

    def _down_there(self, node, victims: list, interfaces) -> list[str]:
        """The same freeze and links down for a host on another machine, as one script run there:
        one SSH round trip, not one per daemon and interface (each ~7 ms, which would sit between
        the fault's time and the host's real end). The host's switches are on its machine too."""
        script = kill_line("STOP", victims)
        downed = []
        for intf in interfaces:
            script.append(host_link_line(node, intf.name, "down"))
            downed.append(intf.name)
            if self.side == "both":
                script.append(f"ip link set dev {intf.switch_intf} down")
                downed.append(intf.switch_intf)
        result = node.machine.run(["sh", "-ec", "; ".join(script)], check=False, timeout=30)
        if not result.ok:
            raise FaultError(f"node_crash {self.host}: the crash script failed on {node.machine.name}: "
                             f"{result.stderr.strip()[-300:]}")
        return downed

    def _running(self) -> list:
        """The recorded processes of the host's daemons that run now."""
        manager = self.testbed.services
        return [manager.process(d) for d in self._daemons() if manager.running(d)] if manager else []

    @staticmethod
    def _kill(victims: list) -> list[dict]:
        """SIGKILL every process (its group), all first (those of another machine in one round
        trip), then reap each."""
        remote: dict = {}
        for proc in victims:
            if proc.record.machine is not None:
                remote.setdefault(proc.record.machine, []).append(proc.pid)
            else:
                proc.send(signal.SIGKILL)
        for machine, pids in remote.items():
            machine.signal(signal.SIGKILL, pids, group=True)
        return NodeCrash._reap(victims)

    @staticmethod
    def _reap(victims: list) -> list[dict]:
        """Wait (bounded) for each killed process; what was killed, for the fault's details."""
        killed = []
        for proc in victims:
            exited = proc.wait(5.0)
            killed.append({"daemon": proc.name, "pid": proc.pid, "signal": signame(signal.SIGKILL), "group": True,
                           "exited": exited, "killed_at": now(),
                           **({"returncode": proc.returncode} if exited else {})})
        return killed

    def recover(self) -> dict:
        require_started(self.testbed)
        testbed = self.testbed
        interfaces = testbed.plan.host_interfaces(self.host)
        ports = {(i.switch, i.switch_port) for i in interfaces
                 if not observe.carrier(i.switch_intf, testbed.net[i.switch])}  # to see come up
        self.recovered_at = now()
        # Every interface of the host, whatever inject() managed to do (idempotent: `ip link
        # set up` on an up interface is a no-op). Switch ends first so carrier comes at once.
        upped = []
        for intf in interfaces:
            set_link(intf.switch_intf, "up", observe.on_machine(testbed.net[intf.switch]))
            set_link(intf.name, "up", testbed.net[self.host])
            upped += [intf.switch_intf, intf.name]
        links_up_at = now()
        seen = observe.port_events(testbed, self.recovered_at, ports, up=True)
        restarted, errors = [], []
        if testbed.services is not None:
            # Also daemons of this host that died otherwise meanwhile: the host "booted".
            restarted, errors = testbed.services.restart(self._daemons(), testbed.net, self.after_ready)
        ready = now()
        details = self._details(recovered_at=self.recovered_at, links_up_at=links_up_at,
                                ready_at=ready, duration_s=round(ready - self.recovered_at, 3),
                                interfaces_up=upped, controller_port_up=seen, restarted=restarted)
        if errors:
            raise FaultError(f"node_crash {self.host}: recovery incomplete: {'; '.join(errors)}")
        return details


class ProcessCrash(NodeCrash):
    """processes:<host>: every recorded daemon of the host SIGKILLed, its links and addresses
    left as they are. The host's kernel lives on: it refuses connections to the dead ports with
    a RST, answers ARP and keeps a VIP it held (keepalived killed by SIGKILL removes nothing).
    Recovery is a node crash's: every killed daemon started again, each ready."""

    kind = "process_crash"
    links_down = False

    @property
    def address(self) -> str:
        return f"processes:{self.host}"


class SwitchCrash(Fault):
    """node:<switch>: a dead switch. Every port of the bridge (its root-namespace veth ends) goes
    admin down, so every neighbour (another switch's port, a host's interface) loses carrier, as
    when a switch loses power; the controller gets the neighbours' port-status events. recover()
    brings every port up again."""

    kind = "switch_crash"

    def __init__(self, testbed, switch: str):
        super().__init__(testbed)
        if switch not in testbed.topology.switches:
            raise FaultError(f"unknown switch {switch!r}; switches: {', '.join(testbed.topology.switches)}")
        self.switch = switch
        plan = testbed.plan
        self.ports = sorted({end for link in plan.switch_links for end in link.intf_names if end.startswith(f"{switch}-")}
                            | {i.switch_intf for i in plan.interfaces if i.switch == switch})
        self.neighbour_ports = sorted(
            {(link.b if link.a == switch else link.a, link.b_port if link.a == switch else link.a_port)
             for link in plan.switch_links if switch in (link.a, link.b)})

    @property
    def address(self) -> str:
        return f"node:{self.switch}"

    def target(self) -> dict:
        return {"switch": self.switch}

    def _set(self, state: str) -> list[str]:
        for port in self.ports:
            set_link(port, state, observe.on_machine(self.testbed.net[self.switch]))
        return list(self.ports)

    def inject(self) -> dict:
        require_started(self.testbed)
        watched = {(s, p) for s, p in self.neighbour_ports}
        self.injected_at = now()
        downed = self._set("down")
        done = now()
        seen = observe.port_events(self.testbed, self.injected_at, watched, up=False)
        return self._details(injected_at=self.injected_at, done_at=done, ports_down=downed,
                             neighbours_port_down=seen)

    def recover(self) -> dict:
        require_started(self.testbed)
        watched = {(s, p) for s, p in self.neighbour_ports}
        self.recovered_at = now()
        upped = self._set("up")
        done = now()
        seen = observe.port_events(self.testbed, self.recovered_at, watched, up=True)
        return self._details(recovered_at=self.recovered_at, done_at=done, ports_up=upped, neighbours_port_up=seen)
