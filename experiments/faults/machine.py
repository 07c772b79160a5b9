"""machine:<name>: another machine of a split placement loses power, everything on it at once.

    machine m2 (one SSH round trip, a shell script run there)
      kill -STOP  every recorded daemon of every host on m2 (whole process groups: none reacts)
      ip link set down   every interface of those hosts (inside each host: mnexec -a <shell pid>)
                         every port of every switch on m2 (veth ends and VXLAN tunnel ends)
      kill -KILL  the same daemons
    then, from here: addresses a power-off loses (a VIP) removed, the dead daemons reaped

    recover: ports and interfaces up, then every daemon of those hosts started again stage by
    stage, as a node crash's recovery does for one host (experiments/faults/node.py)

It is the node crashes of the machine's hosts and the switch crashes of its switches, in one
instant rather than one after another: the script runs on the machine, so the first freeze and
the last kill are milliseconds apart, not a round trip per step.

What it does not imitate: the machine's Open vSwitch keeps running (the testbed owns a real
machine's bridges, not its OVS), so the controller hears the downed ports' status from it; a
real power-off would only show as the OpenFlow connection timing out. And the far ends of the
crossing links stay up: a VXLAN device has no carrier to lose, so the survivors' fast-failover
groups, which watch carrier, cannot see a dead tunnel; only the controller can reroute.
"""

from __future__ import annotations

from experiments.faults.base import Fault, FaultError, now, require_started
from experiments.faults.node import NodeCrash, SwitchCrash, drop_runtime_addresses, host_link_line, kill_line
from runtime import observe


class MachineCrash(Fault):
    kind = "machine_crash"

    def __init__(self, testbed, machine: str, after_ready: bool = True):
        super().__init__(testbed)
        layout = testbed.topology.layout
        if machine not in layout.remote_machines():
            others = ", ".join(layout.remote_machines()) or "none: the placement has one machine"
            why = " (the testbed runs there)" if machine == layout.local else ""
            raise FaultError(f"machine {machine!r} cannot be failed{why}; machines that can: {others}")
        self.machine = machine
        nodes = layout.nodes_on(machine)
        self.hosts = [n for n in nodes if n in testbed.topology.hosts]
        self.switches = [n for n in nodes if n in testbed.topology.switches]
        self.host_crashes = [NodeCrash(testbed, host, after_ready=after_ready) for host in self.hosts]
        self.switch_crashes = [SwitchCrash(testbed, switch) for switch in self.switches]
        self.after_ready = after_ready

    @property
    def address(self) -> str:
        return f"machine:{self.machine}"

    def target(self) -> dict:
        return {"machine": self.machine, "hosts": self.hosts, "switches": self.switches}

    def _links_script(self, state: str) -> list[str]:
        """The machine's side of every link: its switches' ports, its hosts' interfaces."""
        net, plan = self.testbed.net, self.testbed.plan
        lines = [f"ip link set dev {port} {state}" for crash in self.switch_crashes for port in crash.ports]
        lines += [host_link_line(net[host], intf.name, state) for host in self.hosts
                  for intf in plan.host_interfaces(host)]
        return lines

    def _watched(self) -> set[tuple[str, int]]:
        return {(crash.switch, int(port.partition("-eth")[2])) for crash in self.switch_crashes for port in crash.ports}

    def inject(self) -> dict:
        require_started(self.testbed)
        testbed = self.testbed
        remote = testbed.machines[self.machine]
        victims = [proc for crash in self.host_crashes for proc in crash._running()]
        script = kill_line("STOP", victims) + self._links_script("down") + kill_line("KILL", victims)
        self.injected_at = now()
        result = remote.run(["sh", "-c", "; ".join(script) + "; true"], check=False, timeout=30)
        done = now()
        if not result.ok:
            raise FaultError(f"machine_crash {self.machine}: the machine did not run the crash script "
                             f"(exit {result.rc}): {result.stderr.strip()[-300:]}")
        killed = NodeCrash._reap(victims)  # the local ssh of each ends with its process
        # A powered-off host holds no VIP when it boots again.
        removed = [f"{cidr} dev {intf} on {host}" for host in self.hosts
                   for intf, cidr in drop_runtime_addresses(testbed, host)]
        seen = observe.port_events(testbed, self.injected_at, self._watched(), up=False)
        return self._details(injected_at=self.injected_at, done_at=done, duration_s=round(done - self.injected_at, 3),
                             killed=killed, addresses_removed=removed, script=script, controller_port_down=seen)

    def recover(self) -> dict:
        require_started(self.testbed)
        testbed = self.testbed
        self.recovered_at = now()
        script = self._links_script("up")
        testbed.machines[self.machine].run(["sh", "-c", "; ".join(script)], timeout=30)
        links_up_at = now()
        seen = observe.port_events(testbed, self.recovered_at, self._watched(), up=True)
        restarted, errors = [], []
        if testbed.services is not None:
            daemons = [d for crash in self.host_crashes for d in crash._daemons()]
            restarted, errors = testbed.services.restart(daemons, testbed.net, self.after_ready)
        ready = now()
        details = self._details(recovered_at=self.recovered_at, links_up_at=links_up_at, ready_at=ready,
                                duration_s=round(ready - self.recovered_at, 3), controller_port_up=seen,
                                restarted=restarted)
        if errors:
            raise FaultError(f"machine_crash {self.machine}: recovery incomplete: {'; '.join(errors)}")
        return details
