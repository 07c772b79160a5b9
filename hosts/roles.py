"""Which daemons run on which role; the one place that decides the site's composition.

    client   firewall
    lb       firewall, node_exporter, haproxy, keepalived
    server   firewall, mariadb, app (+ idle-capacity agent), mysqld_exporter, node_exporter, nginx
             (mariadb and mysqld_exporter only on services.mariadb.nodes, default every server)
    monitor  firewall, node_exporter, fabric_exporter (the controllers and switches), prometheus,
             alertmanager (clustered with every other monitor's), alert_receiver (the webhook
             that records what its Alertmanager delivers), failover (the first monitor,
             replication modes only)
"""

from __future__ import annotations

from hosts.alert_receiver import AlertReceiver
from hosts.alertmanager import Alertmanager
from hosts.app import App
from hosts.daemon import Daemon
from hosts.fabric_exporter import FabricExporter
from hosts.failover import Failover
from hosts.firewall import Firewall
from hosts.haproxy import HAProxy
from hosts.keepalived import Keepalived
from hosts.mariadb import MariaDB
from hosts.mysqld_exporter import MysqldExporter
from hosts.nginx import Nginx
from hosts.node_exporter import NodeExporter
from hosts.prometheus import Prometheus
from hosts.site import Site

ROLE_DAEMONS: dict[str, list[type[Daemon]]] = {
    "client": [Firewall],
    "lb": [Firewall, NodeExporter, HAProxy, Keepalived],
    "server": [Firewall, MariaDB, App, MysqldExporter, NodeExporter, Nginx],
    "monitor": [Firewall, NodeExporter, FabricExporter, AlertReceiver, Alertmanager, Prometheus, Failover],
}


def daemons_for(site: Site) -> list[Daemon]:
    return [cls(site, name) for name, host in site.topology.hosts.items() for cls in ROLE_DAEMONS[host.role]
            if cls.wanted(site, name)]
