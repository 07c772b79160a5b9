"""Read-only observations of a running testbed: what the switches, hosts and controller say now.

Faults, status and experiments all read the network through these functions; none of them
changes anything (the one exception, active_path, may send one ping to make a host talk so its
MAC gets learned). Each takes the running testbed (anything with .net, .plan, .topology,
.controller) or a Mininet node, and the pure parsers beside them are unit-tested on text.

    data plane      flow_count(switch) / flow_counts(testbed)     ovs-ofctl dump-aggregate
                    out_port(switch, mac) ← parse_out_port(dump)    table 2, eth_dst → output, or
                                  ← parse_group_buckets(dump)      → fast-failover group: first live bucket
                    active_path(testbed, src, dst) → hops;  active_switch_link(...) → (a, b)
                    carrier(intf)                                  /sys/class/net/<intf>/carrier
    hosts           addresses(node, intf), runtime_addresses(testbed, host)   ip -4 addr
                    vip_holders(testbed)                          load balancers with the VIP on
                    neighbour(testbed, host, address)              ip neigh: {"mac", "state", "owner"}
                    host_of_mac(plan, mac)                        MAC ↔ host, from the plan
                    tcp_counters(node, wanted) ← parse_tcp_counters  /proc/net/{snmp,netstat}
                    syn_recv(node)                                ss state syn-recv
                    answering(testbed, pingers, address)           which hosts get a ping reply now
    controller      port_events(testbed, since, ports, up)        its journal's port-status times
"""

from __future__ import annotations

import ipaddress
import re

from runtime import command
from topo.errors import TestbedError
from runtime.wait import NotReadyError, wait_until

PORT_EVENT_TIMEOUT = 3.0  # the controller's journal shows the port-status of a changed port
LEARN_TIMEOUT = 5.0  # a destination MAC gets a flow after a ping


class ObservationError(TestbedError):
    """The network cannot answer the question asked (no such path, host or MAC)."""


def dpid(switch: str) -> int:
    """The OpenFlow datapath id of a switch named "s<number>"."""
    return int(switch[1:])


# -- data plane ------------------------------------------------------------------------------------
def on_machine(node):
    """Where a root-namespace command about `node` (a switch, its ports) runs: None for this
    machine's root namespace, or the node itself when it is on another machine (its popen goes
    there: runtime/cluster.py)."""
    return node if getattr(node, "machine", None) is not None else None


def switch_node(testbed, intf: str):
    """The Mininet node of the switch a root-namespace interface ("s1-eth3") belongs to."""
    return testbed.net[intf.partition("-eth")[0]]


def flow_count(switch: str, node=None) -> int | None:
    """Flows installed on `switch` (None if the switch does not answer); node: the switch's
    Mininet node, needed when it is on another machine."""
    result = command.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", switch], on_machine(node),
                         check=False, timeout=10)
    match = re.search(r"flow_count=(\d+)", result.stdout)
    return int(match.group(1)) if result.ok and match else None


def flow_counts(testbed) -> dict[str, int | None]:
    return {switch: flow_count(switch, testbed.net[switch]) for switch in testbed.topology.switches}


_OUTPUT = re.compile(r"priority=(\d+).*\bactions=output:(\d+)\s*$")
# The controller's tables (controllers/fabric.py, controllers/guards.py): 0 edge guards,
# 1 learning, 2 forwarding. The guards' per-port drop entry has this priority.
GUARD_TABLE, FORWARD_TABLE, GUARD_DROP_PRIORITY = 0, 2, 100
_GUARD_DROP = re.compile(rf"n_packets=(\d+),.*priority={GUARD_DROP_PRIORITY},in_port=(\d+) actions=drop")


def parse_guard_drops(dump: str) -> dict[int, int]:
    """{switch port: packets dropped} from `ovs-ofctl dump-flows` of the guard table."""
    return {int(m.group(2)): int(m.group(1)) for m in map(_GUARD_DROP.search, dump.splitlines()) if m}


def guard_drops(switch: str, node=None) -> dict[int, int]:
    """What the edge guards of `switch` dropped so far, per host port (empty with guards off)."""
    out = command.check_output(["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", switch,
                                f"table={GUARD_TABLE}"], on_machine(node), timeout=10)
    return parse_guard_drops(out)


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


_GROUP = re.compile(r"priority=(\d+),dl_dst=\S+ actions=group:(\d+)\s*$")  # the entry for frames from hosts
_BUCKET = re.compile(r"bucket=watch_port:(\d+),actions=(?:output:)?(\w+)")


def parse_group_entry(dump: str, mac: str) -> int | None:
    """From `ovs-ofctl dump-flows` text: the fast-failover group of the entry for frames to `mac`
    from a host (dl_dst only, no in_port), None if there is none."""
    for line in dump.splitlines():
        match = _GROUP.search(line.strip())
        if match and f"dl_dst={mac} " in line:
            return int(match.group(2))
    return None


def parse_group_buckets(dump: str, group: int) -> list[tuple[int, str]]:
    """From `ovs-ofctl dump-groups` text: [(watch port, action), ...] of group `group`, in order
    (action: a port number as text, or "IN_PORT")."""
    for line in dump.splitlines():
        if line.strip().startswith(f"group_id={group},"):
            return [(int(w), a) for w, a in _BUCKET.findall(line)]
    return []


def out_port(switch: str, mac: str, node=None) -> int | None:
    """The port `switch` forwards frames for `mac` from a host to (the forwarding table's
    highest-priority dl_dst entry; through a fast-failover group, its first bucket whose port
    has carrier)."""
    out = command.check_output(["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", switch,
                                f"table={FORWARD_TABLE},dl_dst={mac}"], on_machine(node), timeout=10)
    group = parse_group_entry(out, mac)
    if group is None:
        return parse_out_port(out, mac)
    groups = command.check_output(["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-groups", switch,
                                   str(group)], on_machine(node), timeout=10)
    for watch, action in parse_group_buckets(groups, group):
        if action.isdigit() and carrier(f"{switch}-eth{watch}", node):
            return int(action)
    return None


def carrier(intf: str, node=None) -> bool:
    """The root-namespace interface (a switch port's veth end) is up with carrier; node: its
    switch's Mininet node, needed when that is on another machine."""
    # The carrier file, not operstate: a VXLAN device (a link crossing machines) is "unknown"
    # there when up. Reading it fails (EINVAL) while the interface is admin down.
    if on_machine(node) is not None:
        result = command.run(["cat", f"/sys/class/net/{intf}/carrier"], node, check=False, timeout=10)
        return result.ok and result.stdout.strip() == "1"
    try:
        return open(f"/sys/class/net/{intf}/carrier").read().strip() == "1"
    except OSError:
        return False


def carriers(testbed, intfs) -> dict[str, bool]:
    """carrier() of many switch-side interfaces: read here, or in one round trip per other
    machine (the dashboard asks ten times a second)."""
    found, remote = {}, {}
    for intf in dict.fromkeys(intfs):
        node = on_machine(switch_node(testbed, intf))
        if node is None:
            found[intf] = carrier(intf)
        else:
            remote.setdefault(node.machine, (node, []))[1].append(intf)
    for machine, (node, names) in remote.items():
        script = "; ".join(f'echo "{name} $(cat /sys/class/net/{name}/carrier 2>/dev/null)"' for name in names)
        result = command.run(["sh", "-c", script], node, check=False, timeout=10)
        lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
        found.update({name: lines.get(name, "").strip() == "1" for name in names})
    return found


def host_of_mac(plan, mac: str | None) -> str | None:
    """The host whose interface has `mac` (None for no MAC, "unknown" for a MAC not in the plan)."""
    if not mac:
        return None
    return next((i.host for i in plan.interfaces if i.mac == mac), "unknown")


def _endpoint(testbed, src: str, dst: str):
    """(src's HostInterface facing dst, dst MAC, dst address to ping or None)."""
    plan = testbed.plan
    if src not in testbed.topology.hosts:
        raise ObservationError(f"unknown host {src!r}")
    src_intfs = plan.host_interfaces(src)
    if dst in testbed.topology.hosts:
        for sintf in src_intfs:
            for dintf in plan.host_interfaces(dst):
                if sintf.network == dintf.network:
                    return sintf, dintf.mac, str(dintf.ip)
        raise ObservationError(f"{src} and {dst} share no network")
    from controllers.fabric import normalize_mac
    try:
        mac = normalize_mac(dst)
    except ValueError:
        raise ObservationError(f"{dst!r} is neither a host nor a MAC address") from None
    owner = next((i for i in plan.interfaces if i.mac == mac), None)
    if owner is not None:
        sintf = next((i for i in src_intfs if i.network == owner.network), None)
        if sintf is None:
            raise ObservationError(f"{src} shares no network with {owner.host} ({mac})")
        return sintf, mac, str(owner.ip)
    return src_intfs[0], mac, None


def active_path(testbed, src: str, dst: str, timeout: float = LEARN_TIMEOUT) -> list[dict]:
    """The switches frames from host `src` to `dst` (a host name or a MAC) cross now, read from
    the switches' flow tables: [{"switch", "out_port", "next": switch or None (dst's edge port)}].

    If a switch has no entry for the MAC yet (never learned), `src` pings `dst` once to make it
    talk, and the walk is retried until `timeout`.
    """
    sintf, mac, ip = _endpoint(testbed, src, dst)
    isl = {}
    for link in testbed.plan.switch_links:
        isl[(link.a, link.a_port)] = link.b
        isl[(link.b, link.b_port)] = link.a

    def walk() -> list[dict] | None:
        hops, switch = [], sintf.switch
        for _ in range(len(testbed.topology.switches) + 1):
            port = out_port(switch, mac, testbed.net[switch])
            if port is None:
                return None
            nxt = isl.get((switch, port))
            hops.append({"switch": switch, "out_port": port, "next": nxt})
            if nxt is None:
                return hops
            switch = nxt
        raise ObservationError(f"the flows for {mac} loop: {hops}")

    path = walk()
    if path is not None:
        return path
    if ip is not None:
        command.run(["ping", "-n", "-q", "-c1", "-W1", ip], testbed.net[src], check=False, timeout=5)
    try:
        return wait_until(walk, timeout, f"a forwarding entry for {mac} on the path from {src}", interval=0.1)
    except NotReadyError as exc:
        raise ObservationError(str(exc)) from None


def active_switch_link(testbed, src: str, dst: str, hop: int = 0) -> tuple[str, str]:
    """(a, b): the `hop`-th inter-switch link (in travel order) frames from `src` to `dst` (a host
    name or a MAC, e.g. the VIP holder's) use now."""
    links = [(h["switch"], h["next"]) for h in active_path(testbed, src, dst) if h["next"] is not None]
    if not links:
        raise ObservationError(f"the path from {src} to {dst} crosses no inter-switch link (same switch)")
    if not 0 <= hop < len(links):
        raise ObservationError(f"the path from {src} to {dst} crosses {len(links)} inter-switch link(s); "
                               f"hop {hop} is out of range")
    return links[hop]


# -- hosts -------------------------------------------------------------------------------------------
def addresses(node, intf: str) -> list[str]:
    """IPv4 address/prefix strings on `intf` inside `node`."""
    out = command.check_output(["ip", "-4", "-o", "addr", "show", "dev", intf], node, timeout=5)
    return re.findall(r"\binet (\S+)", out)


def runtime_addresses(testbed, host: str) -> list[tuple[str, str]]:
    """(interface, address/prefix) of IPv4 addresses on the host that the plan did not give it
    (a floating VIP): state a power-off loses."""
    node = testbed.net[host]
    planned = {(i.name, str(i.ip)) for i in testbed.plan.host_interfaces(host)}
    extra = []
    for intf in testbed.plan.host_interfaces(host):
        for cidr in addresses(node, intf.name):
            if (intf.name, str(ipaddress.ip_interface(cidr).ip)) not in planned:
                extra.append((intf.name, cidr))
    return extra


def vip_interface(plan, host: str) -> str:
    """`host`'s interface on the VIP's network."""
    network = plan.topology.vip.network
    return next(i.name for i in plan.host_interfaces(host) if i.network == network)


def has_vip(node, plan) -> bool:
    vip = str(plan.topology.vip.address)
    return any(cidr.split("/")[0] == vip for cidr in addresses(node, vip_interface(plan, node.name)))


def vip_holders(testbed) -> list[str]:
    """The load balancers that have the VIP on their interface now (one, in a healthy site)."""
    if testbed.net is None:
        return []
    return [lb for lb in testbed.topology.hosts_with_role("lb") if has_vip(testbed.net[lb], testbed.plan)]


def answering(testbed, pingers: list[str], address: str, wait_s: float = 0.5) -> list[str]:
    """The hosts among `pingers` that get a reply to one ping to `address`, all sent at once (a
    cut-off address costs `wait_s`, not `wait_s` per pinger)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(host: str) -> bool:
        return command.run(["ping", "-n", "-q", "-c", "1", "-W", f"{wait_s:g}", address], testbed.net[host],
                           check=False, timeout=wait_s + 2).ok

    if not pingers:
        return []
    with ThreadPoolExecutor(max_workers=len(pingers)) as pool:
        replies = list(pool.map(one, pingers))
    return [host for host, ok in zip(pingers, replies) if ok]


def neighbour(testbed, host: str, address: str) -> dict:
    """`host`'s ARP entry for `address` on its interface in that subnet:
    {"mac", "state", "owner"} (mac None: no entry; owner: the host with that MAC)."""
    plan = testbed.plan
    ip = ipaddress.ip_address(address)
    intf = next((i.name for i in plan.host_interfaces(host) if ip in ipaddress.ip_interface(i.cidr).network), None)
    if intf is None:
        raise ObservationError(f"{host} has no interface in the subnet of {address}")
    out = command.run(["ip", "-4", "neigh", "show", address, "dev", intf], testbed.net[host],
                      check=False, timeout=5).stdout.split()
    mac = out[out.index("lladdr") + 1] if "lladdr" in out else None
    return {"mac": mac, "state": out[-1] if out else None, "owner": host_of_mac(plan, mac)}


def parse_tcp_counters(snmp_text: str, wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """{"TcpExt.SyncookiesSent": n, ...} from /proc/net/snmp or /proc/net/netstat text (pairs of
    a header line and a values line per group), only the `wanted` {group: names}."""
    values = {}
    lines = snmp_text.splitlines()
    for names, numbers in zip(lines[::2], lines[1::2]):
        group = names.split(":")[0]
        if group not in wanted:
            continue
        row = dict(zip(names.split()[1:], numbers.split()[1:]))
        values.update({f"{group}.{k}": int(row[k]) for k in wanted[group] if k in row})
    return values


def tcp_counters(node, wanted: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Kernel TCP counters of the host's own network namespace."""
    values = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        values.update(parse_tcp_counters(command.check_output(["cat", path], node, timeout=5), wanted))
    return values


def syn_recv(node) -> int:
    """Half-open TCP connections (SYN_RECV) in the host right now."""
    out = command.run(["ss", "-Htn", "state", "syn-recv"], node, check=False, timeout=5).stdout
    return sum(1 for line in out.splitlines() if line.strip())


# -- controller --------------------------------------------------------------------------------------
def port_events(testbed, since: float, ports: set[tuple[str, int]], up: bool,
                timeout: float = PORT_EVENT_TIMEOUT) -> dict[str, float | None]:
    """{"s1:3": unix time of the controller's first port-status with this `up` since `since`, or
    None}. Waits (bounded) until every port has one; a stopped controller sees nothing: all None."""
    wanted = {(dpid(sw), port): f"{sw}:{port}" for sw, port in ports}
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
