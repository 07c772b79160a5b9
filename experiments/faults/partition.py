"""partition:<hosts>|<hosts>: the controller drops every frame between two groups of hosts.

    client1 ─┐              ┌─ lb1      all of each side's interface MACs, both directions, on
             ├── ✗ drop ✗ ──┤          every switch: unicast in table 0, broadcast/multicast (ARP,
    client2 ─┘              └─ lb2      VRRP adverts) on the other side's edge ports

Asked over the controller's control channel; the answer comes once the flows are confirmed
(barrier) on every connected switch.
"""

from __future__ import annotations

import hashlib

from experiments.faults.base import Fault, FaultError, check_host, now, require_started
from runtime.controller import ControllerError


class Partition(Fault):
    """A controller restarted meanwhile (ControllerStop) forgets the partition and wipes the
    switches: recover() then finds nothing to remove."""

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
                check_host(testbed, host)
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

    @property
    def address(self) -> str:
        return f"partition:{','.join(self.group_a)}|{','.join(self.group_b)}"

    def target(self) -> dict:
        return {"name": self.name, "group_a": self.group_a, "group_b": self.group_b}

    def _request(self, message: dict) -> dict:
        try:
            return self.testbed.controller.request(message)
        except ControllerError as exc:
            raise FaultError(f"partition {self.name}: {exc}") from None

    def inject(self) -> dict:
        require_started(self.testbed)
        self.injected_at = now()
        answer = self._request({"op": "partition", "name": self.name,
                                "macs_a": self.macs_a, "macs_b": self.macs_b})
        done = now()
        return self._details(injected_at=self.injected_at, done_at=done, macs_a=self.macs_a,
                             macs_b=self.macs_b, t_installed=answer.get("t_installed"),
                             switches=answer.get("switches"), lost_switches=answer.get("lost_switches"),
                             partition_flows_total=answer.get("partition_flows_total"))

    def recover(self) -> dict:
        require_started(self.testbed)
        self.recovered_at = now()
        answer = self._request({"op": "heal", "name": self.name})
        done = now()
        return self._details(recovered_at=self.recovered_at, done_at=done, removed=answer.get("removed"),
                             t_installed=answer.get("t_installed"), switches=answer.get("switches"))
