"""link:<a>-<b>: a cut link between two switches, or between a host and its switch.

    s1-eth1 ═══✗═══ s2-eth1          both veth ends admin down (what Mininet's configLinkStatus
    lb1-eth1 ──✗── s3-eth5           does, with `ip link` and checked exit codes): the switch
                                     reports a port-status to the controller
"""

from __future__ import annotations

from experiments.faults.base import Fault, FaultError, now, require_started, set_link
from runtime import observe


class LinkDown(Fault):
    """Both veth ends of the a-b link(s) admin down; recover() brings them up. Parallel links
    between the same two nodes all go down (index= picks one, in plan order)."""

    kind = "link_down"

    def __init__(self, testbed, a: str, b: str, index: int | None = None, watch_controller: bool = True):
        super().__init__(testbed)
        self.a, self.b, self.index = a, b, index
        # False: do not wait for the controller's port-status events (it is frozen on purpose).
        self.watch_controller = watch_controller
        self.ends = link_ends(testbed, a, b, index)  # [[(intf, host or None), (intf, host or None)], ...]

    @property
    def address(self) -> str:
        return f"link:{self.a}-{self.b}"

    def target(self) -> dict:
        return {"a": self.a, "b": self.b, **({"index": self.index} if self.index is not None else {})}

    def _switch_ports(self, carrier: bool) -> set[tuple[str, int]]:
        """Switch ports of the link whose carrier is now `carrier` (those that will change)."""
        ports = set()
        for pair in self.ends:
            for intf, host in pair:
                if host is None and observe.carrier(intf, observe.switch_node(self.testbed, intf)) == carrier:
                    switch, _, port = intf.partition("-eth")
                    ports.add((switch, int(port)))
        return ports

    def _set(self, state: str) -> list[str]:
        touched = []
        for pair in self.ends:
            for intf, host in pair:
                set_link(intf, state, self.testbed.net[host] if host
                         else observe.on_machine(observe.switch_node(self.testbed, intf)))
                touched.append(intf)
        return touched

    def inject(self) -> dict:
        require_started(self.testbed)
        ports = self._switch_ports(carrier=True)
        self.injected_at = now()
        touched = self._set("down")
        done = now()
        seen = observe.port_events(self.testbed, self.injected_at, ports, up=False) if self.watch_controller else {}
        return self._details(injected_at=self.injected_at, done_at=done, interfaces_down=touched,
                             controller_port_down=seen)

    def recover(self) -> dict:
        require_started(self.testbed)
        ports = self._switch_ports(carrier=False)
        self.recovered_at = now()
        touched = self._set("up")
        done = now()
        seen = observe.port_events(self.testbed, self.recovered_at, ports, up=True) if self.watch_controller else {}
        return self._details(recovered_at=self.recovered_at, done_at=done, interfaces_up=touched,
                             controller_port_up=seen)


def link_ends(testbed, a: str, b: str, index: int | None = None) -> list[list[tuple[str, str | None]]]:
    """Every link between nodes a and b (either order) as its two ends, (interface, host whose
    namespace holds it or None for the root namespace), in plan order. FaultError if none."""
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
