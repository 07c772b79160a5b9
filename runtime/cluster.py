"""A split placement built with Mininet Cluster Edition (mininet.examples.cluster).

    this machine (m1)                                   machine m2 (over SSH, runtime/machines.py)
    ┌─────────────────────────────────────┐            ┌───────────────────────────────────────┐
    │ controllers listen on 10.250.1.1 ◀───── OpenFlow ──── s2, s4 (RemoteOVSSwitch: its OVS) │
    │ s1, s3, s5 (OVS here)               │            │ client2, lb2, server2, monitor        │
    │ client1, lb1, server1, ...          │            │   (RemoteHost: shells over ssh -tt)   │
    │ s1-eth1 vxlan VNI 4200 ════════════ UDP 4789 ══════ s2-eth1 vxlan VNI 4200              │
    └─────────────────────────────────────┘  underlay  └───────────────────────────────────────┘

What is ours and what is the engine's:
  - MininetCluster places nodes by the `server=` each node carries (the placement decides it);
    RemoteHost and RemoteOVSSwitch run shells and ovs-vsctl on the node's machine over SSH.
  - Local nodes stay the testbed's own classes (runtime/network.py), exactly as with one machine.
  - VxlanLink: the engine has SSH tap tunnels (one at a time, fixed device name) and GRE (not in
    this kernel); this link class follows its GRE link: one kernel VXLAN device at each end, on
    the switch's machine, then an ordinary OVS port. Frames above the tunnel's MTU would vanish,
    so every host interface gets topo/placement.SPLIT_MTU (runtime/network.prepare_hosts).
  - What the engine does not do for us: its own cleanup of a machine is Mininet's global one
    (processes found by name, every bridge); it starts commands through sudo and joins argv unquoted. So remote hosts and switches
    are recorded by machine and pid in the run directory, and popen() quotes.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import select
import time

from mininet.examples.cluster import MininetCluster, Placer, RemoteHost, RemoteLink, RemoteOVSSwitch
from mininet.link import Link

from runtime import command
from runtime.machines import Machine
from runtime.network import TaggedBridge, TestbedHost, TestbedSwitch, TestbedTopo
from topo.errors import TestbedError
from topo.plan import NetworkPlan
from topo.placement import VXLAN_PORT

LOCAL_SERVER = "localhost"  # the engine's name for the machine it runs on


class ClusterError(TestbedError):
    """A remote node, tunnel or process could not be made; the message names the machine."""


class _OnMachine:
    """The engine's RemoteMixin, pointed at our ssh config and stripped of its local sudo (we are
    root already, and the config carries the key, known hosts and the shared connection)."""

    def __init__(self, name, machine: Machine, run_dir, **params):
        self.machine, self.run_dir = machine, run_dir
        self.sshbase = machine.ssh_argv(tty=True)[:-1]  # RemoteMixin appends user@address
        params.update(server=machine.name, serverIP=machine.address, user="root", controlPath=False)
        super().__init__(name, **params)

    def _popen(self, cmd, sudo=True, tt=True, **params):
        # The engine prefixes `sudo -E` on the far side: root logs in already.
        return super()._popen(cmd, sudo=False, tt=tt, **params)

    def popen(self, *args, **kwargs):
        """A command in this node's namespaces on its machine (a switch's: the machine's root
        namespace), argv quoted for the remote shell. No mnexec -d: as the login shell's only
        command it would lead a session, fork and leave, taking the output with it."""
        argv = _argv(args)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        remote = shlex.join(["mnexec", "-a", str(self.pid), *argv])
        return subprocess.Popen(self.machine.ssh_argv() + [remote], **kwargs)

    def startShell(self, *args, **kwargs):
        if self.sshcmd[:1] == ["sudo"]:  # ['sudo', '-E', '-u', 'root', 'ssh', ...], set just before
            self.sshcmd = self.sshcmd[4:]
        super().startShell(*args, **kwargs)  # RemoteMixin: self.pid is the shell's pid *there*
        self.run_dir.record_process(f"{self.name}-shell-ssh", self.shell.pid)  # the local end, ours too
        self.run_dir.record_process(f"{self.name}-shell", self.pid, signal.SIGHUP, group=True, machine=self.machine)


class TestbedRemoteHost(_OnMachine, RemoteHost):
    """A host on another machine: its shell, commands and daemons run there."""

    def addIntf(self, intf, port=None, moveIntfFn=None):
        # The veth end was made inside this host's namespace (on its machine) already; the
        # engine's default would `ip link set ... netns <pid>` here, with a pid of another machine.
        return super().addIntf(intf, port=port, moveIntfFn=lambda *_: True)

    def spawn(self, argv, log) -> tuple[subprocess.Popen, int]:
        """A long-lived process in this host, its output appended to `log` on the machine: the
        local ssh lives as long as it does (its exit is the process's). Returns the ssh's Popen
        and the process's pid on the machine.

        mnexec -d makes it lead its own session and group (signalled as a group, like a local
        daemon); -p prints that pid before -a enters the host. `; exit $?` keeps the login shell
        from exec'ing mnexec, which as a session leader would fork and leave at once."""
        inner = shlex.join(["sh", "-c", 'exec "$@" >>"$0" 2>&1', str(log), *[str(a) for a in argv]])
        remote = f"mnexec -d -p -a {self.pid} {inner}; exit $?"
        with open(log, "ab") as err:
            popen = subprocess.Popen(self.machine.ssh_argv() + [remote], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err)
        return popen, _read_pid(popen, f"{argv[0]} on {self.name} ({self.machine.name})")


class TestbedRemoteSwitch(TaggedBridge, _OnMachine, RemoteOVSSwitch):
    """A bridge in another machine's Open vSwitch, tagged with the run like a local one."""


class VxlanLink(RemoteLink):
    """A link whose ends may be on different machines: a veth pair when they are not, else a
    kernel VXLAN device at each end (same VNI, each pointing at the other machine's address).

    vni: the link's VXLAN network identifier; underlay: machine name → the address the other
    machines reach it at (the local machine as LOCAL_SERVER)."""

    def __init__(self, node1, node2, vni: int | None = None, underlay: dict | None = None, **kwargs):
        self.vni, self.underlay = vni, underlay or {}
        super().__init__(node1, node2, **kwargs)  # makes the interfaces: makeIntfPair below

    def makeIntfPair(self, intfname1, intfname2, addr1=None, addr2=None, node1=None, node2=None, deleteIntfs=True):
        node1 = self.node1 if node1 is None else node1
        node2 = self.node2 if node2 is None else node2
        if _server(node1) == _server(node2):
            return Link.makeIntfPair(intfname1, intfname2, addr1, addr2, node1, node2, deleteIntfs=deleteIntfs)
        if self.vni is None:
            raise ClusterError(f"link {node1}-{node2} crosses machines but has no VNI")
        for node, name, mac, peer in ((node1, intfname1, addr1, node2), (node2, intfname2, addr2, node1)):
            for args in vxlan_commands(name, self.vni, self.underlay[_server(node)], self.underlay[_server(peer)], mac):
                _root(node, args)
        self.tunnel = self.vni
        return None

    def stop(self):
        if self.tunnel:
            for intf in (self.intf1, self.intf2):
                _root(intf.node, ["ip", "link", "del", intf.name], check=False)
        else:
            Link.stop(self)
        self.tunnel = None


def _server(node) -> str:
    machine = getattr(node, "machine", None)
    return machine.name if machine is not None else LOCAL_SERVER


def _root(node, args, check=True):
    """`args` in the root namespace of the node's machine."""
    return command.run([str(a) for a in args], getattr(node, "machine", None), check=check)


def _argv(args) -> list[str]:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return [str(a) for a in args[0]]
    if len(args) == 1 and isinstance(args[0], str):
        return args[0].split()
    return [str(a) for a in args]


def _read_pid(popen: subprocess.Popen, what: str, timeout: float = 15.0) -> int:
    """mnexec -p's "\\x01<pid>" line from the ssh's output."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([popen.stdout], [], [], left)[0]:
            popen.kill()
            raise ClusterError(f"{what}: no pid from mnexec within {timeout:g} s")
        chunk = popen.stdout.read1(64)
        if not chunk:
            popen.wait()
            raise ClusterError(f"{what}: exited at once (code {popen.returncode}) before it had a pid")
        line += chunk
    text = line.decode(errors="replace").strip().lstrip("\x01")
    if not text.isdigit():
        raise ClusterError(f"{what}: mnexec printed {text!r}, not a pid")
    return int(text)


def vxlan_commands(name: str, vni: int, local: str, remote: str, mac: str | None = None) -> list[list[str]]:
    """The commands that make one end of a crossing link (shown by tests and --check)."""
    return [["ip", "link", "add", name, *(["address", mac] if mac else []), "type", "vxlan", "id", str(vni),
             "local", local, "remote", remote, "dstport", str(VXLAN_PORT)],
            ["ip", "link", "set", name, "up"]]


class ClusterTopo(TestbedTopo):
    """The testbed's topology with each node's machine and each crossing link's tunnel."""

    def build(self, plan: NetworkPlan, underlay: dict[str, str]):
        self.layout, self.underlay = plan.topology.layout, underlay
        super().build(plan)

    def node_params(self, node: str) -> dict:
        machine = self.layout.machine_of(node)
        return {"server": LOCAL_SERVER if machine == self.layout.local else machine}

    def link_params(self, index: int) -> dict:
        return {"vni": self.layout.vni(index), "underlay": self.underlay} if index in self.layout.crossing else {}


def build_cluster_network(plan: NetworkPlan, run_dir, controllers: list, machines: dict[str, Machine],
                          underlay: dict[str, str]):
    """Create (not start) the network of a split placement with the engine; every bridge,
    interface and machine it will create or use is recorded first, under its machine.

    machines: remote machine name → Machine; underlay: machine name (the local one as
    LOCAL_SERVER) → the address others reach it at; controllers: Mininet controller objects
    listening where every machine reaches them."""
    layout = plan.topology.layout
    for machine in machines.values():
        run_dir.record_machine(machine)
    for name in layout.machines:
        where = machines.get(name)
        switches = [s for s in plan.topology.switches if layout.machine_of(s) == name]
        run_dir.record_bridges(switches, machine=where)
        run_dir.record_interfaces(plan.switch_side_interfaces(set(switches)), machine=where)
    run_dir.record_interfaces([i.name for i in plan.interfaces if layout.machine_of(i.host) == layout.local])

    def host(name, **params):
        server = params.pop("server")
        if server == LOCAL_SERVER:
            return TestbedHost(name, run_dir=run_dir, **params)
        return TestbedRemoteHost(name, machine=machines[server], run_dir=run_dir, **params)

    def switch(name, **params):
        server = params.pop("server")
        if server == LOCAL_SERVER:
            return TestbedSwitch(name, run_dir=run_dir, **params)
        return TestbedRemoteSwitch(name, machine=machines[server], run_dir=run_dir, **params)

    servers = {LOCAL_SERVER: underlay[LOCAL_SERVER], **{name: m.address for name, m in machines.items()}}
    net = MininetCluster(topo=None, servers=list(servers), serverIP=servers, user="root", precheck=False,
                         placement=Placer, host=host, switch=switch, link=VxlanLink, controller=None,
                         build=False, autoSetMacs=False, cleanup=False)
    for controller in controllers:
        net.addController(controller)
    net.topo = ClusterTopo(plan=plan, underlay=underlay)
    net.build()  # MininetCluster.buildFromTopo: the engine's placeNodes, then Mininet's build
    return net


def local_address_toward(address: str) -> str:
    """The address this machine sends from to reach `address` (its underlay address there)."""
    route = command.run(["ip", "-o", "route", "get", address], check=False)
    words = route.stdout.split()
    if not route.ok or "src" not in words:
        raise ClusterError(f"no route from this machine to {address}: {(route.stderr or route.stdout).strip()}")
    return words[words.index("src") + 1]


def real_machine_config(run_dir, machine: str, address: str) -> Machine:
    """How to reach a real machine: root by the user's own key and known hosts, one shared
    connection per machine for the run (its socket in the run directory)."""
    config = run_dir.sub("conf") / f"ssh-{machine}.config"
    config.write_text(f"# ssh to machine {machine} for this run (runtime/cluster.py)\n"
                      f"Host {address}\n  User root\n  BatchMode yes\n  ConnectTimeout 5\n"
                      f"  ControlMaster auto\n  ControlPath {run_dir.sub('s')}/ssh-{machine}\n"
                      f"  ControlPersist 30\n  LogLevel ERROR\n")
    run_dir.sub("s").mkdir(exist_ok=True)
    return Machine(machine, address, str(config))


# What a machine needs for the testbed's nodes: program → Debian package.
REMOTE_PROGRAMS = {"mnexec": "mininet", "ovs-vsctl": "openvswitch-switch", "ip": "iproute2",
                   "ethtool": "ethtool", "ifconfig": "net-tools"}


def connect_machines(layout, switches, run_dir, sim_root=None) -> tuple[dict[str, Machine], dict[str, str]]:
    """Every remote machine of the placement, reachable and ready: simulated ones made (or
    reused), real ones checked (SSH as root, the programs, the same run directory). Returns
    (machine name → Machine, machine name → underlay address, the local one as LOCAL_SERVER).
    A bridge a crashed run left on a machine (tagged, its run not active) is removed; any other
    bridge with a switch's name there is an error, as on this machine. ClusterError (or the
    simulated machine's error) says which machine and what is missing."""
    from runtime.simmachine import SimulatedMachine

    simulated = layout.simulated()
    machines: dict[str, Machine] = {}
    for name in layout.remote_machines():
        kind = layout.machines[name]
        if name in simulated:
            machines[name] = SimulatedMachine(name, simulated.index(name) + 1, sim_root).ensure()
        else:
            machines[name] = real_machine_config(run_dir, name, kind)
    locals_ = {name: local_address_toward(m.address) for name, m in machines.items()}
    first = next(iter(locals_.values()))
    for name, machine in machines.items():
        _check_ready(machine, run_dir)
        _check_bridges(machine, [node for node in layout.nodes_on(name) if node in switches])
        if locals_[name] == first:
            continue
        if name not in simulated:
            raise ClusterError(f"machines {next(iter(machines))} and {name} are reached from different local "
                               f"addresses ({first}, {locals_[name]}): the controllers listen on one")
        # A simulated machine reaches this one over its own underlay only: the controllers'
        # address (on another machine's underlay) goes by this machine's end of its own.
        machine.run(["ip", "route", "replace", f"{first}/32", "via", locals_[name]])
    underlay = {LOCAL_SERVER: first, **{name: m.address for name, m in machines.items()}}
    return machines, underlay


def _check_ready(machine: Machine, run_dir) -> None:
    """SSH answers as root, the programs are there, and the run directory is the same one."""
    token = run_dir.path / ".shared-check"
    token.write_text(machine.name)
    programs = " ".join(REMOTE_PROGRAMS)
    script = (f"for p in {programs}; do command -v $p >/dev/null || echo missing $p; done; "
              f"test -f {shlex.quote(str(token))} || echo unshared")
    result = machine.run(["sh", "-c", script], check=False, timeout=20)
    token.unlink(missing_ok=True)
    if not result.ok:
        raise ClusterError(f"machine {machine.name} ({machine.address}): ssh as root failed: "
                           f"{(result.stderr or result.stdout).strip()[-300:] or f'exit {result.rc}'}")
    for line in result.stdout.splitlines():
        if line.startswith("missing "):
            program = line.split()[1]
            raise ClusterError(f"machine {machine.name}: missing program {program!r} "
                               f"(Debian package {REMOTE_PROGRAMS[program]})")
        if line == "unshared":
            raise ClusterError(f"machine {machine.name}: it does not see this run's directory {run_dir.path}; the "
                               "machines must share the project and the run root (HATESTBED_RUN_ROOT) at the same "
                               "paths, e.g. over NFS")


def _check_bridges(machine: Machine, switches: list[str]) -> None:
    """The switches placed on `machine` have their names free there."""
    from runtime.runstate import RunDir, parse_bridge_tags

    listing = machine.run(["ovs-vsctl", "--timeout=5", "--format=json", "--columns=name,external_ids", "list",
                           "Bridge"], check=False, timeout=20)
    if not listing.ok:
        raise ClusterError(f"machine {machine.name}: Open vSwitch does not answer (ovs-vsctl: "
                           f"{listing.stderr.strip()[-200:]})")
    present = {name for name, _ in json.loads(listing.stdout)["data"]}
    tags = parse_bridge_tags(listing.stdout)
    stale = [s for s in switches if s in tags and not RunDir(tags[s]).active()]
    if stale:  # a crashed run's whose records are gone: its tag says it is the testbed's
        machine.run(["ovs-vsctl", "--timeout=20", *[a for s in stale for a in ("--", "--if-exists", "del-br", s)]])
    for switch in switches:
        if switch in tags and switch not in stale:
            raise ClusterError(f"machine {machine.name}: bridge {switch} belongs to an active run ({tags[switch]}); "
                               "stop it first")
        if switch in present and switch not in tags:
            raise ClusterError(f"machine {machine.name}: an OVS bridge named {switch!r} exists there and is not the "
                               "testbed's; rename the switch in the topology or remove that bridge")
