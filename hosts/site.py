"""Site: everything a daemon needs to know to render its configuration, as a pure value.

    Site(plan, run_path)
      .db_mode / .db_writer(server)   galera | semisync | async; where an app writes at start
      .db_nodes / .db_route(server)   the servers running MariaDB; the nodes an app uses, in order
      .lbs / .servers / .active_servers / .backup_servers / .monitors   host names by role
      .ip(host[, network])      an address; .backend_ip(host): its address on the servers' network
      .conf(host, file)         <run>/conf/<host>/<file>      rendered configuration
      .log(host, daemon)        <run>/logs/<host>-<daemon>.log
      .data(host, daemon)       <run>/data/<host>/<daemon>/   state (datadirs, TSDB)
      .pidfile(host, daemon)    <run>/pids/<host>-<daemon>.pid
      .sock(host, daemon)       <run>/s/<host>-<daemon>.sock  (short: AF_UNIX paths max 107 bytes)
      .tls_*                    the run's CA and per-server certificates

All hosts share one filesystem, so every path is per host. Nothing here touches the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from topo.model import Services, Topology
from topo.plan import NetworkPlan


# MariaDB accounts of the testbed (an emulated lab: fixed, documented, never exposed outside).
DB_NAME = "hatestbed"
DB_USERS = {
    "app": "app-secret",          # the WSGI app: reads locally, writes on the primary
    "repl": "repl-secret",        # replicas pull the primary's binlog
    "exporter": "exporter-secret",  # mysqld_exporter, local socket only
    "failover": "failover-secret",  # the failover manager (replication modes): promote, re-point, fence
}
# The app's health endpoint (HAProxy checks it over TLS) and the header naming the serving host.
HEALTH_PATH = "/health"
SERVED_BY_HEADER = "X-Served-By"


@dataclass(frozen=True)
class Site:
    plan: NetworkPlan
    run_path: Path

    @property
    def topology(self) -> Topology:
        return self.plan.topology

    @property
    def services(self) -> Services:
        return self.plan.topology.services

    # -- hosts by role ----------------------------------------------------------------------------
    @property
    def lbs(self) -> list[str]:
        return self.topology.hosts_with_role("lb")

    @property
    def servers(self) -> list[str]:
        return self.topology.hosts_with_role("server")

    @property
    def active_servers(self) -> list[str]:
        return [s for s in self.servers if not self.topology.hosts[s].backup]

    @property
    def backup_servers(self) -> list[str]:
        return [s for s in self.servers if self.topology.hosts[s].backup]

    @property
    def monitors(self) -> list[str]:
        return self.topology.hosts_with_role("monitor")

    @property
    def clients(self) -> list[str]:
        return self.topology.hosts_with_role("client")

    @property
    def primary_db(self) -> str:
        """The primary of the replication modes; in galera mode the node that bootstraps."""
        return self.services.mariadb.primary

    @property
    def db_mode(self) -> str:
        return self.services.mariadb.mode

    @property
    def db_nodes(self) -> list[str]:
        """The servers that run a database node (services.mariadb.nodes, or the default tier:
        Topology.database_nodes)."""
        return self.topology.database_nodes()

    def db_route(self, server: str) -> list[str]:
        """The database nodes `server`'s app reads from (and checks in /health), in the order it
        tries them: its own node alone if it runs one; else the nodes on its own switch first,
        each list rotated by the server's place so that apps spread over the nodes.

            default grown to 5 servers, nodes server1 (s3), server2 (s4), server3 (s5):
            server4 (s3) → server1, server2, server3      server5 (s4) → server2, server3, server1
        """
        nodes = self.db_nodes
        if server in nodes:
            return [server]
        place = [s for s in self.servers if s not in nodes].index(server)
        rotated = nodes[place % len(nodes):] + nodes[:place % len(nodes)]
        switch = self.plan.host_interfaces(server)[0].switch
        return sorted(rotated, key=lambda node: self.plan.host_interfaces(node)[0].switch != switch)

    def db_writer(self, server: str) -> str | None:
        """Where `server`'s app sends writes at start: its own node (galera), any node of its
        route, the first that answers (galera, a server without a node: None), or the primary."""
        if self.db_mode != "galera":
            return self.primary_db
        return server if server in self.db_nodes else None

    # -- addresses --------------------------------------------------------------------------------
    @property
    def vip(self) -> str:
        return str(self.topology.vip.address)

    @property
    def vip_network(self) -> str:
        return self.topology.vip.network

    @property
    def backend_network(self) -> str:
        """The network the servers live on (the first server's first interface)."""
        return self.plan.host_interfaces(self.servers[0])[0].network

    def ip(self, host: str, network: str | None = None) -> str:
        if network is None:
            return str(self.plan.host_interfaces(host)[0].ip)
        return str(self.plan.address(host, network))

    def backend_ip(self, host: str) -> str:
        return self.ip(host, self.backend_network)

    def interface(self, host: str, network: str) -> str:
        for intf in self.plan.host_interfaces(host):
            if intf.network == network:
                return intf.name
        raise KeyError(f"{host} has no interface in network {network!r}")

    def prefixlen(self, network: str) -> int:
        return self.topology.networks[network].subnet.prefixlen

    # -- paths ------------------------------------------------------------------------------------
    def conf(self, host: str, filename: str) -> Path:
        return self.run_path / "conf" / host / filename

    def log(self, host: str, daemon: str) -> Path:
        return self.run_path / "logs" / f"{host}-{daemon}.log"

    def data(self, host: str, daemon: str) -> Path:
        return self.run_path / "data" / host / daemon

    def pidfile(self, host: str, daemon: str) -> Path:
        return self.run_path / "pids" / f"{host}-{daemon}.pid"

    def sock(self, host: str, daemon: str) -> Path:
        return self.run_path / "s" / f"{host}-{daemon}.sock"

    @property
    def tls_dir(self) -> Path:
        return self.run_path / "tls"

    @property
    def tls_ca(self) -> Path:
        return self.tls_dir / "ca.pem"

    def tls_cert(self, host: str) -> Path:
        return self.tls_dir / f"{host}.pem"

    def tls_key(self, host: str) -> Path:
        return self.tls_dir / f"{host}.key"

    @property
    def vrrp_events(self) -> Path:
        """keepalived notify scripts append one JSON line per state change here."""
        return self.run_path / "logs" / "vrrp-events.jsonl"

    @property
    def galera_events(self) -> Path:
        """Galera's notify command on every server appends one JSON line per change here."""
        return self.run_path / "logs" / "galera-events.jsonl"
