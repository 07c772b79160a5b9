"""NetworkPlan → Mininet network on userspace Open vSwitch.

    client1 ── s1 ════ s2 ── client2        ════  inter-switch links (ports 1..k on each switch)
               ║ lb1  lb2 ║                  ──   host links (ports after those)
               ║   ╲  ╱   ║
    server1 ── s3 ════ s4 ── server2        switches: OVS bridges, datapath_type=netdev (no kernel
    server3 ──┘         └── monitor         module here), OpenFlow 1.3, fail-mode secure

Hosts are Mininet hosts (own network namespace, shared PID namespace and filesystem). Each host
shell is recorded in the run directory the moment it starts, so a crash cannot orphan it.
"""

from __future__ import annotations

import shlex
import signal
from functools import partial

from mininet.link import Link
from mininet.net import Mininet
from mininet.node import Host, OVSSwitch, RemoteController
from mininet.topo import Topo

from runtime import command
from topo.placement import SPLIT_MTU
from topo.plan import NetworkPlan
from runtime.runstate import BRIDGE_OWNER_KEY, RunDir


class TestbedHost(Host):
    """A Mininet host whose shell is written down in the run directory as soon as it exists."""

    def __init__(self, name, run_dir: RunDir, **params):
        self.run_dir = run_dir  # startShell() runs inside Host.__init__
        super().__init__(name, **params)

    def startShell(self, *args, **kwargs):
        super().startShell(*args, **kwargs)
        # The shell leads its own session (mnexec -d): SIGHUP to the group also ends `cmd &` jobs.
        self.run_dir.record_process(f"{self.name}-shell", self.pid, signal.SIGHUP, group=True)


class TaggedBridge:
    """The testbed's bridge settings, and a tag in OVSDB naming the run that created the bridge
    (a mix-in for an OVSSwitch class; the node sets self.run_dir).

    OVSDB outlives the run directory (a restart empties /run, a test uses a temporary run root),
    so the tag is what lets a later run recognise, and remove, a bridge a crashed run left.
    """

    def __init__(self, name, **params):
        # No OVS kernel module on this machine: the userspace datapath. fail-mode secure: a switch
        # forwards nothing until the controller says how (standalone would flood around the ring).
        params.update(datapath="user", protocols="OpenFlow13", failMode="secure")
        super().__init__(name, **params)

    def bridgeOpts(self):
        # Part of Mininet's single add-br transaction: no instant where the bridge is untagged.
        tag = f'external_ids:{BRIDGE_OWNER_KEY}="{self.run_dir.path.resolve()}"'
        return super().bridgeOpts() + " " + shlex.quote(tag)


class TestbedSwitch(TaggedBridge, OVSSwitch):
    """An OVS bridge on this machine, tagged with its run."""

    def __init__(self, name, run_dir: RunDir, **params):
        self.run_dir = run_dir
        super().__init__(name, **params)


class TestbedController(RemoteController):
    """The testbed's own os-ken process; ControllerProcess has already waited for its port.
    (Mininet's check shells out to telnet, which a fresh machine may lack, and only warns.)"""

    def checkListening(self):
        pass


class TestbedTopo(Topo):
    def build(self, plan: NetworkPlan):
        for switch in plan.topology.switches:
            self.addSwitch(switch, dpid=f"{plan.dpid(switch):016x}", **self.node_params(switch))
        for host in plan.topology.hosts:
            first = plan.host_interfaces(host)[0]
            # Mininet configures the default interface from these; no default route is ever set.
            self.addHost(host, ip=first.cidr, mac=first.mac, **self.node_params(host))
        for index, link in enumerate(plan.switch_links):
            self.addLink(link.a, link.b, port1=link.a_port, port2=link.b_port, **self.link_params(index))
        for index_by_host, intf in _numbered(plan):
            self.addLink(intf.host, intf.switch, port1=index_by_host, port2=intf.switch_port,
                         intfName1=intf.name, addr1=intf.mac, params1={"ip": intf.cidr})

    def node_params(self, node: str) -> dict:
        """Extra parameters of a node (runtime/cluster.py: the machine it runs on)."""
        return {}

    def link_params(self, index: int) -> dict:
        """Extra parameters of inter-switch link `index` (runtime/cluster.py: its tunnel)."""
        return {}


def _numbered(plan: NetworkPlan):
    for host in plan.topology.hosts:
        for index, intf in enumerate(plan.host_interfaces(host)):
            yield index, intf


def controller_targets(ports: list[int], host: str = "127.0.0.1") -> list[TestbedController]:
    """Mininet's view of the controller instances: every bridge connects to every one."""
    return [TestbedController(f"c{index}", ip=host, port=port) for index, port in enumerate(ports)]


def build_network(plan: NetworkPlan, run_dir: RunDir, controller_ports: list[int]) -> Mininet:
    """Create (but do not start) the Mininet network; every name it will create is recorded first.
    (A split placement is built by runtime/cluster.py instead.)"""
    run_dir.record_bridges(list(plan.topology.switches))
    run_dir.record_interfaces(plan.root_namespace_interfaces() + [i.name for i in plan.interfaces])
    net = Mininet(topo=None, switch=partial(TestbedSwitch, run_dir=run_dir),
                  host=partial(TestbedHost, run_dir=run_dir),
                  link=Link, controller=None, build=False, autoSetMacs=False, cleanup=False)
    for controller in controller_targets(controller_ports):
        net.addController(controller)
    topo = TestbedTopo(plan=plan)
    # Mininet.buildFromTopo without its controller guessing; our controller is already added.
    net.topo = topo
    net.build()
    return net


def prepare_hosts(net: Mininet, plan: NetworkPlan) -> None:
    """Per-host settings Mininet does not make: checksum offload off, no IPv6 chatter, no ARP
    flux. Linux answers an ARP request for any of its addresses on any interface and may pick
    any of them as the sender of its own requests (arp_ignore 0, arp_announce 0): a balancer's
    internet leg answered for its service address, since both networks share the fabric's
    broadcast domain, so hosts cached the wrong leg's MAC (and the edge guards dropped those
    replies, a few per balancer port). arp_ignore 1: answer only for addresses of the interface
    asked; arp_announce 2: ask from that interface's own address."""
    for host_name in plan.topology.hosts:
        host = net[host_name]
        script = ["sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                  "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2"]
        # TCP through the userspace datapath needs TX checksum offload off on the host side.
        script += [f"ethtool -K {intf.name} tx off >/dev/null" for intf in plan.host_interfaces(host_name)]
        if plan.topology.layout.split:  # no frame larger than the VXLAN tunnels carry (topo/placement.py)
            script += [f"ip link set dev {intf.name} mtu {SPLIT_MTU}" for intf in plan.host_interfaces(host_name)]
        command.run(["sh", "-ec", "; ".join(script)], host)
