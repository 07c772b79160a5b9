"""attack:<name>: the Scapy attacks, one declared row each.

    row                 runs on    builder (scapy_attacks.py)   bound    watched after   affected if
    rst_to_client       client1    rst --direction to-client    1 s      2 s             requests fail
    rst_to_server       client1    rst --direction to-server    1 s      2 s             requests fail
    vrrp_own_source     client2    vrrp --src <own address>     1 s      3 s             VIP stolen / fail
    vrrp_spoofed_lb     client2    vrrp --src <backup LB's>     1 s      10 s            VIP stolen / fail
    vrrp_service_leg    client2    vrrp --src <backup LB's>,    1 s      10 s            VIP stolen / fail
                                   to the holder's service leg (unicast adverts only)
    garp                client2    garp (VIP is at client2)     3 s      15 s            VIP stolen / fail
    synflood            client2    synflood 5000 SYNs, 4000/s   6.25 s   5 s             requests fail

client1 is the first client (the victim: the fabric is switched, so nobody but client1 sees its
packets and the RST injection runs *on* it, an attacker inside the host); client2 the second
(an attacker on the internet side).

With unicast adverts over the service network (services.keepalived.adverts, the default) the
spoofed adverts follow the design: source = the backup balancer's service address (the peer the
holder listens to), destination = the holder's service address. vrrp_spoofed_lb delivers them to
the holder's front interface, where the firewall drops VRRP; vrrp_service_leg to the MAC of its
service interface, which the switched fabric lets an internet-side host reach (one layer-2
domain) and where the firewall accepts the peer's address: what remains without edge guards in
the fabric. With multicast adverts on the front both go to 224.0.0.18 and vrrp_service_leg does
not apply. A row says who attacks, the arguments built from the site
when it is injected, the time bound (the script's --duration), how long after the attack its
effects are watched, what "affected" means, and what recovery must undo (a VIP moved, a poisoned
ARP cache). A new attack is one row here plus one builder in scapy_attacks.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from runtime import command, observe
from runtime.wait import NotReadyError, wait_until

# Bounds of the seed's attacks (seconds / packets); the script caps them again.
RST_DURATION, RST_MAX = 1.0, 400
VRRP_DURATION, VRRP_PRIORITY = 1.0, 254
GARP_COUNT, GARP_INTERVAL = 4, 0.5
# More SYNs than the listener's queue (HAProxy backlog = maxconn 4096 = somaxconn): the kernel
# must fall back to SYN cookies for the rest.
SYN_COUNT, SYN_RATE = 5000, 4000.0


def victim(topology) -> str:
    return topology.hosts_with_role("client")[0]


def attacker(topology) -> str:
    return topology.hosts_with_role("client")[1]


def front(testbed, host: str) -> str:
    """`host`'s interface on the VIP's (internet-side) network."""
    return observe.vip_interface(testbed.plan, host)


def advert_network(testbed) -> str:
    """The network unicast VRRP adverts travel on: the service (backend) network."""
    return testbed.site.backend_network


def front_ip(testbed, host: str) -> str:
    return str(testbed.plan.address(host, testbed.topology.vip.network))


@dataclass(frozen=True)
class AttackRow:
    name: str
    builder: str                      # the attack's name in scapy_attacks.py
    summary: str                      # one line, for --list-faults
    host: Callable                    # topology → the attacking host
    options: Callable                 # (testbed, rng) → the builder's arguments, when injected
    bound_s: float                    # the script's own --duration: it must be over by then
    window_s: float                   # after-effects are watched this long after it ends
    affected: tuple[str, ...]         # observations that mean "the site was affected"
    undo: Callable | None = None      # testbed → dict: what recovery had to repair
    needs_lbs: int = 1                # load balancers it needs (a spoofable backup: 2)
    unicast_only: bool = False        # only with unicast adverts (services.keepalived.adverts)

    def applies(self, topology) -> str | None:
        """Why this attack cannot run on `topology` (None: it can)."""
        if not topology.services.enabled:
            return "services are disabled"
        if self.unicast_only and not topology.services.keepalived.unicast:
            return "needs unicast VRRP adverts over the service network"
        if len(topology.hosts_with_role("client")) < 2:
            return "needs two clients (a victim and an attacker)"
        if len(topology.hosts_with_role("lb")) < self.needs_lbs:
            return f"needs {self.needs_lbs} load balancers"
        return None


# -- what recovery undoes ------------------------------------------------------------------------------
def wait_for_master(testbed) -> dict:
    """After forged adverts: exactly one load balancer holds the VIP again."""
    try:
        wait_until(lambda: len(observe.vip_holders(testbed)) == 1, 15, "one load balancer holding the VIP")
    except NotReadyError as exc:
        return {"vip_holders": observe.vip_holders(testbed), "error": str(exc)}
    return {"vip_holders": observe.vip_holders(testbed)}


def flush_poisoned_arp(testbed) -> dict:
    """After gratuitous ARPs: flush every internet-side host's ARP entry for the VIP that points to
    a non-LB MAC (the attacker excepted)."""
    topology, vip = testbed.topology, str(testbed.topology.vip.address)
    lbs = topology.hosts_with_role("lb")
    flushed = {}
    for host, spec in topology.hosts.items():
        if host == attacker(topology) or spec.role == "lb":
            continue
        if not any(i.network == topology.vip.network for i in testbed.plan.host_interfaces(host)):
            continue
        entry = observe.neighbour(testbed, host, vip)
        if entry["mac"] and entry["owner"] not in lbs:
            command.run(["ip", "-4", "neigh", "flush", "to", vip, "dev", front(testbed, host)],
                        testbed.net[host], timeout=5)
            flushed[host] = entry
    return {"flushed": flushed}


# -- the arguments of each builder -------------------------------------------------------------------
def rst_options(direction: str) -> Callable:
    def options(testbed, rng) -> list[str]:
        host = victim(testbed.topology)
        return ["--iface", front(testbed, host), "--vip", str(testbed.topology.vip.address),
                "--port", str(testbed.topology.services.ports.https), "--direction", direction,
                "--max-rsts", str(RST_MAX), "--duration", f"{RST_DURATION:g}"]
    return options


def vrrp_options(spoof_backup: bool, to_service_leg: bool = False) -> Callable:
    def options(testbed, rng) -> list[str]:
        topology, ka = testbed.topology, testbed.topology.services.keepalived
        host = attacker(topology)
        target = []
        if spoof_backup:  # the balancer not holding the VIP now: the peer the holder listens to
            holders = observe.vip_holders(testbed)
            lbs = topology.hosts_with_role("lb")
            backup = next(lb for lb in lbs if lb not in holders)
            if ka.unicast:
                holder = holders[0] if holders else next(lb for lb in lbs if lb != backup)
                src = str(testbed.plan.address(backup, advert_network(testbed)))
                leg = advert_network(testbed) if to_service_leg else topology.vip.network
                mac = next(i.mac for i in testbed.plan.host_interfaces(holder) if i.network == leg)
                target = ["--dst", str(testbed.plan.address(holder, advert_network(testbed))), "--dst-mac", mac]
            else:
                src = front_ip(testbed, backup)
        else:
            src = front_ip(testbed, host)
        return ["--iface", front(testbed, host), "--src", src, "--vrid", str(ka.vrid),
                "--priority", str(VRRP_PRIORITY), "--vip", str(topology.vip.address),
                "--advert-int", f"{ka.advert_int:g}", "--duration", f"{VRRP_DURATION:g}", *target]
    return options


def garp_options(testbed, rng) -> list[str]:
    host = attacker(testbed.topology)
    return ["--iface", front(testbed, host), "--vip", str(testbed.topology.vip.address),
            "--count", str(GARP_COUNT), "--interval", f"{GARP_INTERVAL:g}",
            "--duration", f"{GARP_COUNT * GARP_INTERVAL + 1:g}"]


def synflood_options(testbed, rng) -> list[str]:
    host = attacker(testbed.topology)
    return ["--iface", front(testbed, host), "--dst", str(testbed.topology.vip.address),
            "--port", str(testbed.topology.services.ports.https),
            "--count", str(SYN_COUNT), "--rate", f"{SYN_RATE:g}", "--seed", str(rng.randrange(2 ** 31)),
            "--duration", f"{SYN_COUNT / SYN_RATE + 5:g}"]


ROWS = (
    # The VRRP attacks last: a VIP move makes keepalived send a second set of gratuitous ARPs
    # 5 s later, which would heal a GARP attack running then (and hide what it does).
    AttackRow("rst_to_client", "rst", "RSTs spoofed from VIP:443 into the victim's own stack, one per connection",
              victim, rst_options("to-client"), RST_DURATION, 2.0, ("failed_requests",)),
    AttackRow("rst_to_server", "rst", "RSTs as the victim towards VIP:443, one per connection",
              victim, rst_options("to-server"), RST_DURATION, 2.0, ("failed_requests",)),
    AttackRow("garp", "garp", "gratuitous ARPs claiming the VIP is at the attacker",
              attacker, garp_options, GARP_COUNT * GARP_INTERVAL + 1, 15.0, ("vip_stolen", "failed_requests"),
              flush_poisoned_arp),
    AttackRow("synflood", "synflood", f"{SYN_COUNT} SYNs at VIP:443, {SYN_RATE:g}/s",
              attacker, synflood_options, SYN_COUNT / SYN_RATE + 5, 5.0, ("failed_requests",)),
    AttackRow("vrrp_own_source", "vrrp", "forged VRRPv3 adverts, priority 254, from the attacker's own address",
              attacker, vrrp_options(spoof_backup=False), VRRP_DURATION, 3.0, ("vip_stolen", "failed_requests"),
              wait_for_master),
    AttackRow("vrrp_spoofed_lb", "vrrp", "forged VRRPv3 adverts, priority 254, spoofing the backup balancer",
              attacker, vrrp_options(spoof_backup=True), VRRP_DURATION, 10.0, ("vip_stolen", "failed_requests"),
              wait_for_master, needs_lbs=2),
    AttackRow("vrrp_service_leg", "vrrp", "the spoofed adverts delivered to the holder's service interface",
              attacker, vrrp_options(spoof_backup=True, to_service_leg=True), VRRP_DURATION, 10.0,
              ("vip_stolen", "failed_requests"), wait_for_master, needs_lbs=2, unicast_only=True),
)
ATTACKS: dict[str, AttackRow] = {row.name: row for row in ROWS}
