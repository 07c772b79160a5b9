"""The one place that turns a Topology into names, addresses, MACs and switch ports.

    Topology ──plan_network()──▶ NetworkPlan
                                   ├─ hosts:    client1-eth0 10.0.1.10/24 02:00:00:00:01:0a on s1 port 3
                                   ├─ links:    s1 port 1 ── s2 port 1, ...
                                   └─ fabric(): the controller's view (dpids and inter-switch ports)

Port numbers: on every switch, inter-switch links take ports 1..k in `switch_links` order, then
host interfaces follow in host-file order. Everything is deterministic, so a lab sheet can print
"server1 is 10.0.2.14 on s3 port 4" and stay true.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from topo.model import Topology


@dataclass(frozen=True)
class HostInterface:
    host: str
    name: str  # e.g. "lb1-eth1"
    network: str
    ip: ipaddress.IPv4Address
    prefixlen: int
    mac: str
    switch: str
    switch_port: int

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"

    @property
    def switch_intf(self) -> str:
        return f"{self.switch}-eth{self.switch_port}"


@dataclass(frozen=True)
class SwitchLink:
    a: str
    a_port: int
    b: str
    b_port: int

    @property
    def intf_names(self) -> tuple[str, str]:
        return f"{self.a}-eth{self.a_port}", f"{self.b}-eth{self.b_port}"


@dataclass(frozen=True)
class NetworkPlan:
    topology: Topology
    interfaces: tuple[HostInterface, ...]
    switch_links: tuple[SwitchLink, ...]

    def host_interfaces(self, host: str) -> list[HostInterface]:
        return [intf for intf in self.interfaces if intf.host == host]

    def address(self, host: str, network: str) -> ipaddress.IPv4Address:
        for intf in self.host_interfaces(host):
            if intf.network == network:
                return intf.ip
        raise KeyError(f"{host} has no interface in network {network!r}")

    def members(self, network: str) -> list[HostInterface]:
        return [intf for intf in self.interfaces if intf.network == network]

    def reachable_pairs(self) -> list[tuple[str, str, ipaddress.IPv4Address]]:
        """(source host, destination host, destination address) for every two hosts sharing a network."""
        pairs = []
        for network in self.topology.networks:
            members = self.members(network)
            for src in members:
                for dst in members:
                    if src.host != dst.host:
                        pairs.append((src.host, dst.host, dst.ip))
        return pairs

    @staticmethod
    def dpid(switch: str) -> int:
        return int(switch[1:])

    def fabric(self) -> dict:
        """The controller's input: switches with datapath ids, the inter-switch ports, and who is
        on every host port with which MAC and source addresses (for the edge guards: a host's
        own address there; a load balancer's front leg may also send from the VIP)."""
        vip = self.topology.vip
        edges = []
        for intf in self.interfaces:
            addresses = [str(intf.ip)]
            if self.topology.hosts[intf.host].role == "lb" and intf.network == vip.network:
                addresses.append(str(vip.address))
            edges.append({"switch": intf.switch, "port": intf.switch_port, "host": intf.host, "mac": intf.mac,
                          "addresses": addresses})
        return {
            "switches": {name: {"dpid": self.dpid(name)} for name in self.topology.switches},
            "links": [{"a": l.a, "a_port": l.a_port, "b": l.b, "b_port": l.b_port} for l in self.switch_links],
            "edges": edges,
            "edge_guards": self.topology.controller.edge_guards,
            "fast_failover": self.topology.controller.fast_failover,
        }

    def root_namespace_interfaces(self) -> list[str]:
        """Interface names the testbed creates in the root namespace (switch ends of every veth)."""
        return self.switch_side_interfaces(set(self.topology.switches))

    def switch_side_interfaces(self, switches: set[str]) -> list[str]:
        """The root-namespace interfaces of `switches` (those on one machine, in a split placement)."""
        names = [intf.switch_intf for intf in self.interfaces if intf.switch in switches]
        for link in self.switch_links:
            names.extend(name for switch, name in zip((link.a, link.b), link.intf_names) if switch in switches)
        return names


def _mac(network_index: int, ip: ipaddress.IPv4Address) -> str:
    # Locally administered unicast: "02:00:00:<network>:<last two address bytes>", readable on a capture.
    return "02:00:00:{:02x}:{:02x}:{:02x}".format(network_index + 1, (int(ip) >> 8) & 0xFF, int(ip) & 0xFF)


def _auto_addresses(subnet: ipaddress.IPv4Network, first_host: int):
    return (addr for addr in subnet.hosts() if int(addr) - int(subnet.network_address) >= first_host)


def plan_network(topology: Topology) -> NetworkPlan:
    next_port: dict[str, int] = defaultdict(lambda: 1)

    links = []
    for a, b in topology.switch_links:
        links.append(SwitchLink(a, next_port[a], b, next_port[b]))
        next_port[a] += 1
        next_port[b] += 1

    taken = {topology.vip.address}
    taken.update(intf.address for host in topology.hosts.values() for intf in host.interfaces if intf.address)
    candidates = {name: _auto_addresses(net.subnet, net.first_host) for name, net in topology.networks.items()}
    network_index = {name: index for index, name in enumerate(topology.networks)}

    interfaces = []
    for host_name, host in topology.hosts.items():
        for index, intf in enumerate(host.interfaces):
            ip = intf.address
            if ip is None:
                ip = next((addr for addr in candidates[intf.network] if addr not in taken), None)
                if ip is None:
                    raise ValueError(f"network {intf.network!r} has no free address left for {host_name}")
                taken.add(ip)
            subnet = topology.networks[intf.network].subnet
            interfaces.append(HostInterface(
                host=host_name, name=f"{host_name}-eth{index}", network=intf.network, ip=ip,
                prefixlen=subnet.prefixlen, mac=_mac(network_index[intf.network], ip),
                switch=intf.switch, switch_port=next_port[intf.switch]))
            next_port[intf.switch] += 1
    return NetworkPlan(topology, tuple(interfaces), tuple(links))
