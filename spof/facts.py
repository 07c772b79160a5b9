"""What each redundancy mechanism really checks, read from the configuration the testbed renders.

    keepalived.conf (every lb)   interface, priority, advert_int, nopreempt, track_script → the
                                 script it runs → what that script checks (HAProxy's pid file)
    haproxy.cfg (every lb)       the backend's servers (backup or not), the health check
                                 (http-check send ... uri /health), inter and fall
    app.json (every server)      where the app sends writes (the primary, or its own Galera node)
                                 and, without a node of its own, the database nodes it uses in order
    my.cnf (every node)          Galera on or off; the cluster's members (gcomm://)
    prometheus.yml (monitor)     every scrape target: which exporter of which host, at what address;
                                 the Alertmanagers it sends alerts to
    alertmanager.yml (monitor)   the webhook receivers it delivers to (a daemon of some host)

Nothing is started: the daemons render into a placeholder run directory and the text is parsed.
Two facts come from the code rather than a configuration file, and say so: the app's /health
answers only if its database answers (the LOCAL one, or the first of its route that can
serve: hosts/webapp/app.py), and no daemon of any role
promotes a replica (hosts/roles.py lists every daemon there is).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hosts.roles import daemons_for
from hosts.site import Site
from spof.components import PLACEHOLDER_RUN

# From hosts/webapp/app.py: "GET /health 200 if its MariaDB answers, else 503": the server's
# own daemons here; its database (own node or route) is checked apart (spof/model.py).
HEALTH_NEEDS = ("nginx", "app")
# What a daemon name in ROLE_DAEMONS would have to be for something to promote a replica.
PROMOTERS = ("orchestrator", "mha", "replication-manager", "failover")


@dataclass(frozen=True)
class Vrrp:
    host: str
    interface: str  # where the VIP lives (virtual_ipaddress ... dev)
    priority: int
    advert_int: float
    preempt: bool
    tracks: tuple[str, ...]  # in words: what the track scripts check
    advert_interface: str = ""  # where the adverts go (the instance's interface)
    unicast_peers: tuple[str, ...] = ()  # addresses adverts are sent to; () = multicast
    # Interfaces whose loss of carrier puts the instance in FAULT (its own and track_interface).
    track_interfaces: tuple[str, ...] = ()
    # A track script fails (FAULT) when the host's HAProxy has no server UP.
    needs_server: bool = False


@dataclass(frozen=True)
class Backend:
    lb: str
    servers: tuple[tuple[str, bool], ...]  # (server, backup?)
    check: str  # e.g. "GET /health"
    inter_ms: int
    fall: int


@dataclass
class SiteFacts:
    vrrp: dict[str, Vrrp] = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    # server → the host its app writes to (None: the node its route serves from, Galera)
    write_primary: dict[str, str | None] = field(default_factory=dict)
    # server → the database nodes its app uses, in order (its own node alone if it runs one)
    db_route: dict[str, tuple[str, ...]] = field(default_factory=dict)
    db_nodes: tuple[str, ...] = ()  # the servers that run MariaDB
    scrape: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # monitor → host → exporters
    # monitor → the hosts of the Alertmanagers its Prometheus sends alerts to (no entry: none configured)
    alerting: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Alertmanager host → (host, daemon) of every receiver it delivers to
    receivers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    health_needs: tuple[str, ...] = HEALTH_NEEDS
    promoter: str | None = None       # the daemon that promotes a replica, if one runs
    promoter_host: str | None = None
    db_primary: str | None = None     # the primary it watches (from its rendered config)
    replication: str = "async GTID replication (replicas read_only)"
    # galera mode: server → the Galera members its my.cnf lists (gcomm://); empty otherwise.
    galera: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def initial_holder(self) -> str | None:
        """The balancer VRRP elects first: every instance starts BACKUP, the highest priority wins."""
        if not self.vrrp:
            return None
        return max(self.vrrp.values(), key=lambda v: v.priority).host


def site_facts(topology, plan) -> SiteFacts:
    site = Site(plan, PLACEHOLDER_RUN)
    facts = SiteFacts()
    files: dict[Path, str] = {}
    daemons = daemons_for(site)
    for daemon in daemons:
        files.update(daemon.files())
    for daemon in daemons:
        if daemon.name == "keepalived":
            facts.vrrp[daemon.host] = parse_keepalived(daemon.host, files[daemon.conf_path("keepalived.conf")], files)
        elif daemon.name == "haproxy":
            facts.backends[daemon.host] = parse_haproxy(daemon.host, files[daemon.conf_path("haproxy.cfg")])
        elif daemon.name == "app":
            writes = json.loads(files[daemon.primary_file])
            facts.write_primary[daemon.host] = (writes["primary"] or {}).get("host")
            facts.db_route[daemon.host] = tuple(n["host"] for n in writes["nodes"]) or (daemon.host,)
        elif daemon.name == "prometheus":
            config = files[daemon.conf_path("prometheus.yml")]
            facts.scrape[daemon.host] = parse_prometheus(config)
            managers = parse_alertmanagers(config, site)
            if managers is not None:
                facts.alerting[daemon.host] = managers
        elif daemon.name == "alertmanager":
            facts.receivers[daemon.host] = parse_receivers(daemon.host, files[daemon.conf_path("alertmanager.yml")],
                                                           daemons, site)
        elif daemon.name == "mariadb":
            facts.db_nodes += (daemon.host,)
            members = parse_galera_members(files[daemon.cnf], site)
            if members:
                facts.galera[daemon.host] = members
    if facts.galera:
        facts.replication = "Galera, virtually synchronous (a node serves only in a majority component)"
    promoters = [d for d in daemons if any(p in d.name for p in PROMOTERS)]
    if promoters:
        facts.promoter, facts.promoter_host = promoters[0].name, promoters[0].host
        config = files.get(promoters[0].conf_path(f"{promoters[0].name}.json"))
        facts.db_primary = json.loads(config)["primary"] if config else None
    return facts


def parse_galera_members(text: str, site: Site) -> tuple[str, ...]:
    """The servers a my.cnf names in wsrep_cluster_address, if wsrep is on; () otherwise."""
    if not re.search(r"^wsrep_on\s*=\s*ON", text, re.M):
        return ()
    match = re.search(r"^wsrep_cluster_address\s*=\s*gcomm://(\S+)", text, re.M)
    if not match:
        raise ValueError("my.cnf: wsrep_on without a gcomm:// cluster address")
    by_ip = {site.backend_ip(s): s for s in site.db_nodes}
    return tuple(by_ip.get(member.rsplit(":", 1)[0], member) for member in match.group(1).split(","))


def parse_keepalived(host: str, text: str, files: dict[Path, str]) -> Vrrp:
    def one(pattern: str) -> str:
        match = re.search(pattern, text, re.M)
        if not match:
            raise ValueError(f"keepalived.conf of {host}: no {pattern!r}")
        return match.group(1)

    tracked = re.findall(r"track_script\s*\{([^}]*)\}", text)
    names = [n for block in tracked for n in block.split()]
    tracks = []
    for name in names:
        script = re.search(rf"vrrp_script {name} \{{[^}}]*?script \"([^\"]+)\"", text, re.S)
        body = files.get(Path(script.group(1)), "") if script else ""
        pidfile = re.search(r"pidfile='([^']+)'", body)
        if pidfile and "haproxy" in Path(pidfile.group(1)).name:
            tracks.append(f"{host}'s HAProxy process is alive (by pid)")
        elif re.search(r"^stats_csv='[^']+/stats;csv'", body, re.M) and "/^UP/" in body:
            tracks.append(f"{host}'s HAProxy has a server UP (its stats)")
        else:
            tracks.append(f"script {name}")
    tracked_interfaces = [i for block in re.findall(r"track_interface\s*\{([^}]*)\}", text) for i in block.split()]
    tracks += [f"interface {i} is up" for i in tracked_interfaces]
    advert_interface = one(r"^\s*interface (\S+)")
    tracks.append(f"its own interface {advert_interface} has carrier")  # keepalived tracks the instance's interface
    vip_dev = re.search(r"virtual_ipaddress\s*\{[^}]*?\bdev (\S+)", text, re.S)
    peers = [p for block in re.findall(r"unicast_peer\s*\{([^}]*)\}", text) for p in block.split()]
    return Vrrp(host, vip_dev.group(1) if vip_dev else advert_interface, int(one(r"^\s*priority (\d+)")),
                float(one(r"^\s*advert_int (\S+)")), not re.search(r"^\s*nopreempt\s*$", text, re.M),
                tuple(tracks), advert_interface, tuple(peers),
                tuple(dict.fromkeys([advert_interface, *tracked_interfaces])),
                any(t.endswith("has a server UP (its stats)") for t in tracks))


def parse_haproxy(lb: str, text: str) -> Backend:
    servers = tuple((m.group(1), bool(m.group(2)))
                    for m in re.finditer(r"^\s*server (\S+) \S+( backup)?\s*$", text, re.M))
    check = re.search(r"http-check send meth (\S+) uri (\S+)", text)
    inter = re.search(r"default-server .*(?<![-\w])inter (\d+)ms", text)  # not agent-inter
    fall = re.search(r"default-server .*\bfall (\d+)", text)
    return Backend(lb, servers, f"{check.group(1)} {check.group(2)}" if check else "TCP connect",
                   int(inter.group(1)) if inter else 2000, int(fall.group(1)) if fall else 3)


def parse_prometheus(text: str) -> dict[str, tuple[str, ...]]:
    """host → the jobs (exporters) Prometheus scrapes on it."""
    found: dict[str, list[str]] = {}
    for job in yaml.safe_load(text)["scrape_configs"]:
        for static in job["static_configs"]:
            found.setdefault(static["labels"]["instance"], []).append(job["job_name"])
    return {host: tuple(jobs) for host, jobs in found.items()}


def hosts_by_backend_ip(site: Site) -> dict[str, str]:
    """Address on the service network → host, for the configs that name hosts by address."""
    return {str(i.ip): i.host for i in site.plan.members(site.backend_network)}


def parse_alertmanagers(text: str, site: Site) -> tuple[str, ...] | None:
    """The hosts of the Alertmanagers a prometheus.yml sends alerts to; None without `alerting`."""
    config = yaml.safe_load(text)
    if not config.get("alerting"):
        return None
    by_ip = hosts_by_backend_ip(site)
    return tuple(by_ip.get(target.rsplit(":", 1)[0], target)
                 for manager in config["alerting"].get("alertmanagers", [])
                 for static in manager.get("static_configs", []) for target in static.get("targets", []))


def parse_receivers(host: str, text: str, daemons, site: Site) -> tuple[tuple[str, str], ...]:
    """(host, daemon) of every webhook an alertmanager.yml delivers to: 127.0.0.1 is the
    Alertmanager's own host; the daemon is the one of that host that listens on the URL's port."""
    found, by_ip = [], hosts_by_backend_ip(site)
    for receiver in yaml.safe_load(text).get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            match = re.match(r"https?://([^:/]+):(\d+)", hook["url"])
            if not match:
                raise ValueError(f"alertmanager.yml of {host}: webhook URL {hook['url']!r} names no host:port")
            address, port = match.group(1), int(match.group(2))
            target = host if address in ("127.0.0.1", "localhost") else by_ip.get(address, address)
            listeners = [d.name for d in daemons if d.host == target and getattr(d, "port", None) == port]
            found.append((target, listeners[0] if listeners else f"port {port}"))
    return tuple(found)
