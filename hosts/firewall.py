"""Firewall: iptables default-deny in every host's own namespace, from `services.firewall`.

    rule {name, from, to, proto, ports}            rendered per destination host:
      from: role | host | network | vip | any  ─▶  -s <their addresses>   (any: no -s)
      to:   role | host | network | vip | any  ─▶  applies on matching hosts; "vip" → -d VIP
                                                     on load balancers, a network → -d the host's
                                                     address there
    INPUT policy DROP, loopback and established/related accepted, a final counted DROP.

VRRP on a balancer (services.keepalived.adverts = service-unicast, the default) is decided before
the established/related rule, so a forged advert cannot pass as part of the peers' exchange
(conntrack tracks IP protocol 112 by addresses only, whatever the interface):

    -i <front> -p vrrp                                 DROP   "vrrp-from-internet" (counted)
    -i <service> -s <peers> -d <own service address>  ACCEPT  (the YAML's vrrp rule)
    -p vrrp                                            DROP   "vrrp-not-a-peer" (counted)

With front-multicast the vrrp rule accepts adverts to 224.0.0.18 from the balancers' addresses,
in the ordinary place (the exposed design).

Rules are applied with `iptables-restore` (checked with `--test` first); they vanish with the
namespace at teardown, so there is nothing to stop.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hosts.daemon import Daemon, render
from hosts.failover import manager_host
from runtime import command
from topo.model import FirewallRule

ROLES = ("client", "lb", "server", "monitor")
VRRP_GROUP = "224.0.0.18"  # keepalived's VRRP multicast group


class Firewall(Daemon):
    name = "firewall"
    binary = "iptables-restore"
    package = "iptables"
    stage = 0

    @property
    def rules_path(self) -> Path:
        return self.conf_path("iptables.rules")

    # -- rendering (pure) -------------------------------------------------------------------------
    def _addresses(self, endpoint: str) -> list[str] | None:
        """Source addresses an endpoint stands for; None means any."""
        site, topology = self.site, self.site.topology
        if endpoint == "any":
            return None
        if endpoint == "vip":
            return [f"{site.vip}/32"]
        if endpoint in topology.networks:
            return [str(topology.networks[endpoint].subnet)]
        hosts = topology.hosts_with_role(endpoint) if endpoint in ROLES else [endpoint]
        return [f"{intf.ip}/32" for h in hosts for intf in site.plan.host_interfaces(h)]

    def _destination(self, endpoint: str) -> tuple[bool, str | None]:
        """Does the rule apply on this host, and to which local address (None: any)?"""
        topology = self.site.topology
        if endpoint == "any":
            return True, None
        if endpoint == "vip":
            return topology.hosts[self.host].role == "lb", f"{self.site.vip}/32"
        if endpoint in topology.networks:
            for intf in self.site.plan.host_interfaces(self.host):
                if intf.network == endpoint:
                    return True, f"{intf.ip}/32"
            return False, None
        if endpoint in ROLES:
            return topology.hosts[self.host].role == endpoint, None
        return endpoint == self.host, None

    def _port_number(self, port: str | int) -> int:
        return port if isinstance(port, int) else getattr(self.site.services.ports, port)

    def implied_rules(self) -> list[FirewallRule]:
        """Rules the site's composition needs whatever the YAML says: the failover manager's host
        reaches every server's MariaDB (replication modes)."""
        manager = manager_host(self.site)
        if manager is None:
            return []
        return [FirewallRule.model_validate({"name": "db-failover", "from": [manager], "to": ["server"],
                                             "ports": ["mariadb"]})]

    def _rules_here(self) -> list[tuple[FirewallRule, str | None]]:
        """(rule, local address) for every rule that applies on this host."""
        found = []
        for rule in [*self.site.services.firewall, *self.implied_rules()]:
            for destination in rule.destinations:
                applies, local = self._destination(destination)
                if applies:
                    found.append((rule, local))
        return found

    @property
    def vrrp_first(self) -> bool:
        """VRRP is decided before established/related: a balancer with unicast adverts."""
        return (self.site.topology.hosts[self.host].role == "lb"
                and self.site.services.keepalived.unicast)

    def rule_lines(self) -> list[str]:
        """The accept rules in their ordinary place (after established/related)."""
        return [line for rule, local in self._rules_here()
                if not (self.vrrp_first and rule.proto == "vrrp") for line in self._render_rule(rule, local)]

    def first_lines(self) -> list[str]:
        """Rules before established/related: VRRP on a balancer with unicast adverts."""
        if not self.vrrp_first:
            return []
        front = self.site.interface(self.host, self.site.vip_network)
        accepts = [line for rule, _local in self._rules_here() if rule.proto == "vrrp"
                   for line in self._render_unicast_vrrp(rule)]
        return ([f'-i {front} -p vrrp -m comment --comment "vrrp-from-internet" -j DROP'] + accepts
                + ['-p vrrp -m comment --comment "vrrp-not-a-peer" -j DROP'])

    def _render_unicast_vrrp(self, rule: FirewallRule) -> list[str]:
        """Adverts from the rule's sources that are peers on the service network, to this host."""
        network = self.site.backend_network
        subnet = self.site.topology.networks[network].subnet
        own = self.site.plan.address(self.host, network)
        peers = []
        for source in rule.sources:
            addresses = self._addresses(source)
            if addresses is None:  # "any": every address of the service network
                addresses = [str(subnet)]
            peers += [a for a in addresses if ipaddress.ip_network(a, strict=False).subnet_of(subnet)
                      and a != f"{own}/32"]
        if not peers:
            return []
        return [f"-i {self.site.interface(self.host, network)} -s {','.join(dict.fromkeys(peers))} -d {own}/32 "
                f'-p vrrp -m comment --comment "{rule.name}" -j ACCEPT']

    def _render_rule(self, rule: FirewallRule, local: str | None) -> list[str]:
        sources: list[str | None] = []
        for source in rule.sources:
            addresses = self._addresses(source)
            if addresses is None:
                sources = [None]
                break
            sources.extend(addresses)
        sources = list(dict.fromkeys(sources))
        if not sources:  # from a role no host has (e.g. monitor, none in the YAML): admits nobody
            return []
        match = []
        if sources != [None]:
            match.append(f"-s {','.join(sources)}")
        if rule.proto == "vrrp":
            match.append(f"-d {VRRP_GROUP}/32 -p vrrp")
        else:
            if local:
                match.append(f"-d {local}")
            if rule.proto == "icmp":
                match.append("-p icmp --icmp-type echo-request")
            else:
                ports = ",".join(str(self._port_number(p)) for p in rule.ports)
                match.append(f"-p {rule.proto} -m multiport --dports {ports}")
        match.append(f'-m comment --comment "{rule.name}" -j ACCEPT')
        return [" ".join(match)]

    def files(self) -> dict[Path, str]:
        role = self.site.topology.hosts[self.host].role
        return {self.rules_path: render("iptables.rules.j2", host=self.host, role=role, first=self.first_lines(),
                                        rules=self.rule_lines())}

    def check_command(self) -> list[str]:
        return ["iptables-restore", "--test", str(self.rules_path)]

    def command(self) -> None:
        return None

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        command.run(["iptables-restore", str(self.rules_path)], node)

    def is_ready(self, node) -> bool:
        return "-P INPUT DROP" in command.check_output(["iptables", "-S", "INPUT"], node)

    def counters(self, node) -> dict[str, tuple[int, int]]:
        """(packets, bytes) of every INPUT rule with a comment, by comment."""
        out = command.check_output(["iptables", "-L", "INPUT", "-v", "-x", "-n"], node)
        found = {}
        for line in out.splitlines():
            if "/* " in line and " */" in line:
                packets, size = line.split()[:2]
                found[line.split("/* ", 1)[1].split(" */", 1)[0]] = (int(packets), int(size))
        return found

    def dropped(self, node) -> tuple[int, int]:
        """(packets, bytes) counted by the final default-deny rule."""
        return self.counters(node).get("default deny", (0, 0))

    def status(self, node) -> str:
        if not self.is_ready(node):
            return "not applied"
        packets, _ = self.dropped(node)
        vrrp = self.vrrp_dropped(node) if self.vrrp_first else {}
        forged = f", VRRP dropped: {vrrp['vrrp-from-internet']} from the internet side, " \
                 f"{vrrp['vrrp-not-a-peer']} not from a peer" if vrrp else ""
        return f"default deny, {len(self.rule_lines())} accept rules, {packets} packets dropped{forged}"

    def vrrp_dropped(self, node) -> dict[str, int]:
        """Packets counted by the VRRP drop rules (vrrp-from-internet, vrrp-not-a-peer)."""
        counters = self.counters(node)
        return {name: counters.get(name, (0, 0))[0] for name in ("vrrp-from-internet", "vrrp-not-a-peer")}
