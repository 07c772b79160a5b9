"""The topology file (YAML) loaded into a validated, typed model.

    default.yaml ──load_topology()──▶ Topology (pydantic)  ──plan.py──▶ addresses, ports, MACs
                         │
                         └─ TopologyError("file: field: what is wrong")

The schema lives in the pydantic classes below; cross-field rules (a switch a host names must
exist, addresses inside their subnet, a connected fabric...) are model validators, so every
error names the field it is about. Unknown fields are errors: a typo must not be ignored.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from topo.errors import BadInputError
from topo.placement import Placement, resolve_placement

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent / "default.yaml"

# Interface names are "<host>-eth<N>" and must fit Linux's 15 characters.
NAME_PATTERN = r"^[a-z][a-z0-9]{0,9}$"


class TopologyError(BadInputError):
    """The topology file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(_Strict):
    subnet: ipaddress.IPv4Network
    # Auto-assigned host addresses start at this host number (the VIP and explicit ones are skipped).
    first_host: int = Field(default=10, ge=1)

    @field_validator("subnet")
    @classmethod
    def _room_for_hosts(cls, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if subnet.prefixlen > 29:
            raise ValueError("subnet is too small (at most /29)")
        return subnet


class Interface(_Strict):
    network: str
    switch: str
    address: ipaddress.IPv4Address | None = None


class Host(_Strict):
    role: Literal["client", "lb", "server", "monitor"]
    # A backup server only takes traffic when an active one fails (HAProxy `backup`).
    backup: bool = False
    interfaces: list[Interface] = Field(min_length=1)

    @model_validator(mode="after")
    def _backup_only_for_servers(self) -> Host:
        if self.backup and self.role != "server":
            raise ValueError("backup: only a server can be a backup")
        return self


class Vip(_Strict):
    network: str
    address: ipaddress.IPv4Address


class Controller(_Strict):
    port: int = Field(default=6653, ge=1024, le=65534)
    # 2: a MASTER and a standby (OpenFlow 1.3 roles; the second listens on port + 1) that takes
    # over when the first is gone. 1: a single controller, a single point of failure for
    # everything that needs one (learning new hosts, repairing paths beyond fast failover).
    instances: int = Field(default=2, ge=1, le=2)
    # Edge guards (IP source guard + dynamic ARP inspection): on every host port only that
    # host's own MAC and addresses may be a source; only a balancer's front port may claim the
    # VIP. false: the fabric forwards whatever a host sends (to show the attacks working).
    edge_guards: bool = True
    # Fast-failover groups: every switch holds a precomputed backup next hop for every other
    # switch and moves traffic off a dead link by itself, controller or not. false: only the
    # controller reroutes (after a port-status round trip).
    fast_failover: bool = True


# A TCP port number.
Port = Annotated[int, Field(ge=1, le=65535)]


class Ports(_Strict):
    """Every TCP port the services use; firewall rules name these keys."""
    http: Port = 80
    https: Port = 443
    app: Port = 8000
    agent: Port = 9999
    mariadb: Port = 3306
    galera: Port = 4567          # Galera group communication (replication traffic)
    galera_ist: Port = 4568      # incremental state transfer to a rejoining node
    galera_sst: Port = 4444      # full state transfer (rsync) to a new node
    node_exporter: Port = 9100
    mysqld_exporter: Port = 9104
    haproxy_metrics: Port = 8404
    prometheus: Port = 9090
    fabric_exporter: Port = 9105      # the controllers' and switches' state (hosts/fabric_exporter.py)
    alertmanager: Port = 9093         # Alertmanager's API (Prometheus sends alerts here)
    alertmanager_cluster: Port = 9094  # the Alertmanager pair's gossip (TCP and UDP)
    alert_receiver: Port = 9095       # the webhook receiver that records delivered notifications

    @model_validator(mode="after")
    def _one_service_per_port(self) -> Ports:
        owners: dict[int, str] = {}
        for name in type(self).model_fields:
            port = getattr(self, name)
            if port in owners:
                raise ValueError(f"{owners[port]} and {name} are both port {port}: each service needs its own")
            owners[port] = name
        return self


class Keepalived(_Strict):
    vrid: int = Field(default=51, ge=1, le=255)
    # VRRPv3 allows sub-second adverts (10 ms steps). Stock keepalived uses 1 s. 20 ms: a backup
    # takes over ~60 ms after the master's last advert (3 adverts + a 0.3 ms skew, below). The fastest setting timer_sweep found
    # with no false failover while both cores were saturated; 10 ms moved the VIP twice in a
    # 10-minute stressed soak, even with real-time scheduling (README, "The timer frontier").
    advert_int: float = Field(default=0.02, ge=0.01, le=255)
    # Without preemption a recovered lb1 does not take the VIP back (no second outage).
    preempt: bool = False
    # Priorities in load-balancer file order: the first is the preferred master. A backup waits
    # 3 adverts plus a skew of (256 - priority) / 256 adverts: with one backup the skew orders
    # nobody, it only delays (12 ms at 20 ms adverts for priority 100; 0.3 ms for 252). Both stay
    # below 254, the priority the attack experiments' forged adverts carry, so those still win.
    priorities: list[int] = [253, 252]
    # How often the HAProxy liveness check (by pid) runs, seconds.
    check_interval: float = Field(default=0.1, gt=0)
    # A balancer whose HAProxy has no server UP (its own health checks' verdict, read once a
    # second from its stats) goes to FAULT and gives the VIP up. Without it, a balancer cut off
    # from every healthy server still claims the VIP: in a split brain both MASTERs announce it and
    # clients follow whichever announced last (the SPOF sweep saw 0-70 % served). false: the lesson.
    track_servers: bool = True
    # Where the balancers' adverts travel. service-unicast: over the service network, unicast
    # to the other balancers' service addresses, and the firewall drops VRRP on the
    # internet-facing interface. front-multicast: multicast on the VIP's (internet-facing)
    # network, where anyone on the internet side can forge one (kept for the lesson).
    adverts: Literal["service-unicast", "front-multicast"] = "service-unicast"
    # The VIP holder re-announces the VIP by gratuitous ARP this often, so a poisoned ARP cache
    # heals; whole seconds (keepalived takes no fraction here); 0: only on becoming MASTER.
    garp_refresh_s: int = Field(default=1, ge=0, le=3600)
    # Gratuitous ARPs per refresh, spread evenly over it (keepalived's vrrp_garp_interval spaces
    # every GARP on an interface): 2 with a 1 s refresh re-announces every 0.5 s.
    garp_refresh_burst: int = Field(default=2, ge=1, le=10)
    # How the VRRP process is scheduled. auto: ordinary, raised to real-time only once it has
    # been late (keepalived's max_auto_priority; "late" means by its default 1 s, too coarse for
    # sub-second adverts). realtime: SCHED_RR from the start (vrrp_rt_priority) and never swapped
    # out, so a busy CPU delays neither its adverts nor its master-down timer.
    scheduling: Literal["auto", "realtime"] = "realtime"

    @property
    def unicast(self) -> bool:
        """Adverts go unicast over the service network (not multicast on the front)."""
        return self.adverts == "service-unicast"


class HAProxy(_Strict):
    # Health checks over TLS to the app's health endpoint. Stock HAProxy: inter 2s fall 3 rise 2.
    check_inter_ms: int = Field(default=80, ge=10)
    # After a first failed check, re-check this soon (HAProxy's default: every `inter`).
    fastinter_ms: int | None = Field(default=20, ge=10)
    fall: int = Field(default=2, ge=1)
    rise: int = Field(default=2, ge=1)
    retries: int = Field(default=2, ge=0)
    # How long a client connection may take to reach a server (then retried elsewhere); with
    # passive checks also how soon a silent dead server shows in live traffic.
    connect_timeout_ms: int = Field(default=100, ge=1)
    # How long a health check may take to answer (TLS handshake + GET /health on a busy server).
    check_timeout_ms: int = Field(default=100, ge=1)
    client_timeout_s: int = Field(default=30, ge=1)
    server_timeout_s: int = Field(default=30, ge=1)
    # Passive checks: `observe layer4`: this many failed client connections in a row to a server
    # mark it DOWN at once (on-error mark-down), without waiting for the active checks; 0: off.
    # The active checks bring it back (rise).
    error_limit: int = Field(default=1, ge=0)
    # Weights follow each server's idle capacity (its agent reports free app workers).
    agent_check: bool = True
    agent_inter_ms: int = Field(default=200, ge=10)
    # roundrobin (the seed's) or leastconn (fewest open connections first); both weighted.
    balance: Literal["roundrobin", "leastconn"] = "roundrobin"
    # Health checks per second across all balancers (each checks every server over TLS): when
    # balancers × servers × 1000 / check_inter_ms would exceed it, inter, fastinter and
    # agent-inter are stretched by the same factor (topo/check_budget.py). The default's
    # 2 × 3 servers make 75/s: as configured. null: no budget, the timers as written.
    check_budget_per_s: int | None = Field(default=250, ge=1)


class App(_Strict):
    # Sync workers: 2 for reads and 2 for writes at most (nginx's bulkhead), 2 always free for `/`
    # and /health (hosts/nginx.py).
    workers: int = Field(default=6, ge=1, le=64)


class MariaDB(_Strict):
    # galera: every server a writable Galera node, each app writes to its own node; the cluster
    #         evicts a dead node and a minority stops taking writes (quorum).
    # semisync / async: one primary, GTID replicas; the db-failover manager promotes a replica.
    #         semisync: a commit is acknowledged once a replica has it (AFTER_SYNC); async: once
    #         the primary has it (the baseline that loses acknowledged writes).
    mode: Literal["galera", "semisync", "async"] = "galera"
    # The primary of the replication modes; in galera mode the node that bootstraps the cluster.
    primary: str = "server1"
    # The servers that run a database node (Galera members, or the primary and its replicas);
    # null: every server up to 5 servers, beyond that 3 spread over the servers' switches
    # (Topology.database_nodes). The database tier need not grow with the web tier: a server
    # without a node has its app read, write and check /health on the nodes over the service
    # network, the nearest first (hosts/site.py db_route). A Galera cluster of more than ~20
    # nodes does not form on a 2-core VM (README "Scale"); 48 servers run with 3 nodes.
    nodes: list[str] | None = Field(default=None, min_length=1)
    buffer_pool_mb: int = Field(default=32, ge=8)
    # semisync: how long a commit waits for a replica's acknowledgement before the primary
    # silently falls back to async (MariaDB's default is 10 s).
    semisync_timeout_ms: int = Field(default=3000, ge=1)


# services.mariadb.nodes left out: every server runs a database node while there are at most this
# many servers; beyond, DEFAULT_DB_NODES do, one per failure domain where it can (database_nodes).
# A Galera cluster of 29 nodes did not form within 30 s on a 2-core VM; 3 is the smallest tier
# that survives the loss of any one node (a majority of 3 is 2), 5 the largest the default
# grows to in the labs.
ALL_SERVERS_DB_UP_TO = 5
DEFAULT_DB_NODES = 3


class FirewallRule(_Strict):
    name: str
    # A role (client, lb, server, monitor), a host name, a network name, "vip" or "any".
    sources: list[str] = Field(alias="from", min_length=1)
    destinations: list[str] = Field(alias="to", min_length=1)
    proto: Literal["tcp", "udp", "icmp", "vrrp"] = "tcp"
    # Names from `services.ports` (or numbers); ignored for icmp and vrrp.
    ports: list[str | int] = []


DEFAULT_FIREWALL = [
    {"name": "web", "from": ["any"], "to": ["vip"], "ports": ["http", "https"]},
    {"name": "vrrp", "from": ["lb"], "to": ["lb"], "proto": "vrrp"},
    {"name": "lb-to-servers", "from": ["lb"], "to": ["server"], "ports": ["https", "agent"]},
    {"name": "database", "from": ["server"], "to": ["server"], "ports": ["mariadb"]},
    {"name": "galera", "from": ["server"], "to": ["server"], "ports": ["galera", "galera_ist", "galera_sst"]},
    {"name": "monitoring", "from": ["monitor"], "to": ["lb", "server", "monitor"],
     "ports": ["node_exporter", "mysqld_exporter", "haproxy_metrics", "fabric_exporter"]},
    # The monitoring replicas: each Prometheus scrapes the other and sends alerts to both
    # Alertmanagers; the Alertmanagers gossip (TCP and UDP) and deliver to the receivers.
    {"name": "alerting", "from": ["monitor"], "to": ["monitor"],
     "ports": ["prometheus", "alertmanager", "alertmanager_cluster", "alert_receiver"]},
    {"name": "alerting-gossip", "from": ["monitor"], "to": ["monitor"], "proto": "udp",
     "ports": ["alertmanager_cluster"]},
    {"name": "ping", "from": ["any"], "to": ["any"], "proto": "icmp"},
]


class Services(_Strict):
    enabled: bool = True
    server_name: str = "www.hatestbed.test"
    ports: Ports = Ports()
    keepalived: Keepalived = Keepalived()
    haproxy: HAProxy = HAProxy()
    app: App = App()
    mariadb: MariaDB = MariaDB()
    firewall: list[FirewallRule] = Field(default_factory=lambda: [FirewallRule.model_validate(r) for r in DEFAULT_FIREWALL])


class Topology(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    controller: Controller = Controller()
    networks: dict[str, Network] = Field(min_length=1)
    vip: Vip
    switches: list[str] = Field(min_length=1)
    switch_links: list[tuple[str, str]] = []
    hosts: dict[str, Host] = Field(min_length=1)
    services: Services = Services()
    # Several machines (topo/placement.py): name → `local` (exactly one), `simulated` or an IPv4
    # address; none: everything on this machine.
    machines: dict[str, str] = {}
    # Switch, host or role → machine; a switch not named stays local, a host follows its switch.
    placement: dict[str, str] = {}

    @field_validator("switches")
    @classmethod
    def _switch_names(cls, switches: list[str]) -> list[str]:
        for name in switches:
            if not re.match(r"^s[0-9]{1,4}$", name):
                raise ValueError(f"switch name {name!r} must be 's' followed by a number (it gives the datapath id)")
        if len(set(switches)) != len(switches):
            raise ValueError("switch names repeat")
        return switches

    @field_validator("hosts", "networks")
    @classmethod
    def _names(cls, items: dict) -> dict:
        for name in items:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"name {name!r} must be lower-case letters and digits, at most 10, starting with a letter")
        return items

    @model_validator(mode="after")
    def _cross_references(self) -> Topology:
        switches = set(self.switches)
        clash = switches & set(self.hosts)
        if clash:
            raise ValueError(f"hosts: {sorted(clash)[0]!r} is also a switch name")

        for index, (a, b) in enumerate(self.switch_links):
            for end in (a, b):
                if end not in switches:
                    raise ValueError(f"switch_links.{index}: unknown switch {end!r}")
            if a == b:
                raise ValueError(f"switch_links.{index}: a link must join two different switches")
        graph = nx.MultiGraph()
        graph.add_nodes_from(switches)
        graph.add_edges_from(self.switch_links)
        if not nx.is_connected(graph):
            raise ValueError("switch_links: the switches do not form one connected fabric")

        subnets = list(self.networks.items())
        for index, (name, network) in enumerate(subnets):
            for other, earlier in subnets[:index]:
                if network.subnet.overlaps(earlier.subnet):
                    raise ValueError(f"networks.{name}.subnet: {network.subnet} overlaps networks.{other} "
                                     f"({earlier.subnet})")

        if self.vip.network not in self.networks:
            raise ValueError(f"vip.network: unknown network {self.vip.network!r}")
        vip_subnet = self.networks[self.vip.network].subnet
        if self.vip.address not in vip_subnet:
            raise ValueError(f"vip.address: {self.vip.address} is outside {vip_subnet}")
        if self.vip.address in (vip_subnet.network_address, vip_subnet.broadcast_address):
            raise ValueError(f"vip.address: {self.vip.address} is not a host address of {vip_subnet}")

        seen_addresses: dict[ipaddress.IPv4Address, str] = {self.vip.address: "vip.address"}
        for host_name, host in self.hosts.items():
            networks_used = set()
            for index, intf in enumerate(host.interfaces):
                where = f"hosts.{host_name}.interfaces.{index}"
                if intf.network not in self.networks:
                    raise ValueError(f"{where}.network: unknown network {intf.network!r}")
                if intf.switch not in switches:
                    raise ValueError(f"{where}.switch: unknown switch {intf.switch!r}")
                if intf.network in networks_used:
                    raise ValueError(f"{where}.network: {host_name} already has an interface in {intf.network!r}")
                networks_used.add(intf.network)
                if intf.address is not None:
                    subnet = self.networks[intf.network].subnet
                    if intf.address not in subnet or intf.address in (subnet.network_address, subnet.broadcast_address):
                        raise ValueError(f"{where}.address: {intf.address} is not a host address of {subnet}")
                    if intf.address in seen_addresses:
                        raise ValueError(f"{where}.address: {intf.address} is already used by {seen_addresses[intf.address]}")
                    seen_addresses[intf.address] = where
            if host.role == "lb" and self.vip.network not in networks_used:
                raise ValueError(f"hosts.{host_name}: a load balancer needs an interface in the VIP network {self.vip.network!r}")
        self._check_address_room(seen_addresses)
        self._check_services()
        resolve_placement(self)
        return self

    @property
    def layout(self) -> Placement:
        """Which machine each switch and host is on (topo/placement.py)."""
        return resolve_placement(self)

    def _check_address_room(self, explicit) -> None:
        """Every interface without an explicit address gets one from its network, from host number
        first_host up, skipping taken ones (topo/plan.py): there must be enough of them."""
        for name, network in self.networks.items():
            wanted = sum(1 for host in self.hosts.values() for intf in host.interfaces
                         if intf.network == name and intf.address is None)
            subnet, first = network.subnet, network.first_host
            last = subnet.num_addresses - 2  # the highest host number (the broadcast address is not one)
            taken = sum(1 for address in explicit
                        if address in subnet and first <= int(address) - int(subnet.network_address) <= last)
            free = max(0, last - first + 1) - taken
            if wanted > free:
                raise ValueError(f"networks.{name}: {wanted} interfaces need an automatic address but {subnet} "
                                 f"has {max(free, 0)} free from host number {first} up (widen the subnet or "
                                 "lower first_host)")

    def _check_roles(self) -> None:
        """With services on: the hosts each role needs, on the networks it needs them."""
        lbs, servers = self.hosts_with_role("lb"), self.hosts_with_role("server")
        if not lbs:
            raise ValueError("hosts: the services need at least one load balancer (role: lb) to hold the VIP")
        if not [s for s in servers if not self.hosts[s].backup]:
            raise ValueError("hosts: the services need at least one server (role: server) that is not a backup")
        # The service network: where the first server's first interface is (hosts/site.py);
        # balancers, servers and the monitor meet there, clients never do.
        service = self.hosts[servers[0]].interfaces[0].network if self.hosts[servers[0]].interfaces else None
        if service is None or service == self.vip.network:
            raise ValueError(f"hosts.{servers[0]}.interfaces: a server's first interface must be on the service "
                             f"network, not on the VIP network {self.vip.network!r} (clients' side)")
        clients = self.hosts_with_role("client")
        if not clients:
            raise ValueError("hosts: the services need at least one client (role: client) to send requests to the VIP")
        for name in clients:
            if self.vip.network not in {intf.network for intf in self.hosts[name].interfaces}:
                raise ValueError(f"hosts.{name}.interfaces: a client needs an interface on the VIP network "
                                 f"{self.vip.network!r} (networks are not routed to each other)")
        for name in lbs + servers + self.hosts_with_role("monitor"):
            if service not in {intf.network for intf in self.hosts[name].interfaces}:
                raise ValueError(f"hosts.{name}.interfaces: a {self.hosts[name].role} needs an interface on the "
                                 f"service network {service!r}")

    def _check_services(self) -> None:
        services = self.services
        if services.enabled:
            self._check_roles()
        lbs, servers = self.hosts_with_role("lb"), self.hosts_with_role("server")
        if services.enabled and services.mariadb.primary not in servers:
            raise ValueError(f"services.mariadb.primary: {services.mariadb.primary!r} is not a server")
        nodes = services.mariadb.nodes
        if services.enabled and nodes is not None:
            for index, node in enumerate(nodes):
                if node not in servers:
                    raise ValueError(f"services.mariadb.nodes.{index}: {node!r} is not a server")
            if len(set(nodes)) != len(nodes):
                raise ValueError("services.mariadb.nodes: a server is named twice")
            if services.mariadb.primary not in nodes:
                raise ValueError(f"services.mariadb.nodes: the primary {services.mariadb.primary!r} must be one of them")
        if len(services.keepalived.priorities) < len(lbs):
            raise ValueError(f"services.keepalived.priorities: {len(lbs)} load balancers need {len(lbs)} priorities")
        if any(not 1 <= p <= 254 for p in services.keepalived.priorities):
            raise ValueError("services.keepalived.priorities: each must be 1..254")
        names = set(self.hosts) | set(self.networks) | {"client", "lb", "server", "monitor", "vip", "any"}
        port_names = set(Ports.model_fields)
        for index, rule in enumerate(services.firewall):
            for end in rule.sources + rule.destinations:
                if end not in names:
                    raise ValueError(f"services.firewall.{index}: unknown host, role or network {end!r}")
            for port in rule.ports:
                if isinstance(port, str) and port not in port_names:
                    raise ValueError(f"services.firewall.{index}.ports: unknown port name {port!r}")
                if isinstance(port, int) and not 1 <= port <= 65535:
                    raise ValueError(f"services.firewall.{index}.ports: {port} is not a port number (1-65535)")

    def without_services(self) -> Topology:
        """The same network with no daemons (the bare fabric, for network tests and benchmarks)."""
        return self.model_copy(update={"services": self.services.model_copy(update={"enabled": False})})

    def hosts_with_role(self, role: str) -> list[str]:
        return [name for name, host in self.hosts.items() if host.role == role]

    def database_nodes(self) -> list[str]:
        """The servers that run a database node, in file order: services.mariadb.nodes; with none
        given, every server up to ALL_SERVERS_DB_UP_TO servers, else DEFAULT_DB_NODES of them
        spread over failure domains (the servers' access switches): the primary first, then the
        first server of each switch not yet holding a node, in file order, round after round.

            48 servers on s3, s4, s5 (the default grown) → server1 (s3), server2 (s4), server3 (s5)
        """
        nodes = self.services.mariadb.nodes
        servers = self.hosts_with_role("server")
        if nodes is not None:
            return [s for s in servers if s in nodes]
        if len(servers) <= ALL_SERVERS_DB_UP_TO:
            return servers
        primary = self.services.mariadb.primary
        chosen = [primary] if primary in servers else []
        while len(chosen) < min(DEFAULT_DB_NODES, len(servers)):
            used = {self.hosts[s].interfaces[0].switch for s in chosen}
            fresh = [s for s in servers if s not in chosen and self.hosts[s].interfaces[0].switch not in used]
            chosen.append(fresh[0] if fresh else next(s for s in servers if s not in chosen))
        return [s for s in servers if s in chosen]

    def split_pair(self, text: str) -> tuple[str, str] | None:
        """"a-b" → (a, b) where a and b are nodes (hosts or switches); names may contain '-', so
        the split is the one whose both sides are nodes. None if there is none."""
        nodes = set(self.switches) | set(self.hosts)
        for i, char in enumerate(text):
            if char == "-" and text[:i] in nodes and text[i + 1:] in nodes:
                return text[:i], text[i + 1:]
        return None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _describe(error: dict) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    # Model-level checks already name their field inside the message.
    return f"{location}: {message}" if location else message


def parse_topology(data: object, source: str = "<topology>") -> Topology:
    """Validate already-parsed YAML data; raise TopologyError naming `source` and the field."""
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: the file must hold a mapping of fields, not {type(data).__name__}")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        # A misspelt field also makes the real one "missing": name the misspelling first.
        first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TopologyError(f"{source}: {_describe(first)}{more}") from None


def load_topology(path: Path | str = DEFAULT_TOPOLOGY) -> Topology:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TopologyError(f"{path}: not a text file (byte {exc.start} is not UTF-8): a topology is YAML") from None
    if "\x00" in text:
        raise TopologyError(f"{path}: not a text file (it holds NUL bytes): a topology is YAML")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise TopologyError(f"{path}: nested too deeply to be a topology") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(f"{path}:{where}: not valid YAML: {problem}") from None
    return parse_topology(data, str(path))
