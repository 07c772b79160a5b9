"""prometheus-mysqld-exporter on every server that runs a database node, next to its MariaDB.

    <server back-end ip>:9104/metrics ◀── Prometheus on the monitor
          │ user exporter over the UNIX socket <run>/s/<server>-mariadb.sock
          ▼
    MariaDB (stage 1) ── needs 'exporter'@'localhost' with PROCESS, BINLOG MONITOR / REPLICATION
                         CLIENT, SLAVE MONITOR and SELECT (created by hosts/mariadb.py)

The credentials and the socket are in a per-host client option file (--config.my-cnf): the
default (~/.my.cnf) would be the same file for every host. `mysql_up` says whether the login
works; is_ready requires it, so a missing grant stops the start with a named error.
"""

from __future__ import annotations

import re
from pathlib import Path

from hosts.daemon import Daemon
from hosts.prometheus import http_get
from hosts.site import DB_USERS


# Collectors mysqld_exporter 0.14 enables by default that nothing here reads.
UNUSED_COLLECTORS = ("info_schema.innodb_cmp", "info_schema.innodb_cmpmem", "info_schema.query_response_time")


class MysqldExporter(Daemon):
    name = "mysqld_exporter"
    binary = "prometheus-mysqld-exporter"
    package = "prometheus-mysqld-exporter"
    stage = 2
    ready_timeout = 15.0

    @classmethod
    def wanted(cls, site, host: str) -> bool:
        return host in site.db_nodes

    @property
    def address(self) -> str:
        return f"{self.site.backend_ip(self.host)}:{self.site.services.ports.mysqld_exporter}"

    @property
    def my_cnf(self) -> Path:
        return self.conf_path("mysqld_exporter.cnf")

    def files(self) -> dict[Path, str]:
        text = ("# mysqld_exporter's login on " + self.host + " (rendered by hosts/mysqld_exporter.py)\n"
                "[client]\n"
                "user = exporter\n"
                f"password = {DB_USERS['exporter']}\n"
                f"socket = {self.site.sock(self.host, 'mariadb')}\n")
        return {self.my_cnf: text}

    def command(self) -> list[str]:
        # Only what the rules and the status read: SHOW GLOBAL STATUS (wsrep_*, semisync), SHOW
        # GLOBAL VARIABLES and SHOW SLAVE STATUS. The other default collectors (InnoDB
        # compression tables, query response times) cost a third of the exporter's CPU, and
        # with two replicas scraping every second the exporters were the testbed's second
        # biggest user of the two cores at rest (15 %, after ovs-vswitchd's 26 %).
        return (["prometheus-mysqld-exporter", f"--config.my-cnf={self.my_cnf}",
                 f"--web.listen-address={self.address}", "--log.level=warn"]
                + [f"--no-collect.{c}" for c in UNUSED_COLLECTORS])

    def prepare(self, node) -> None:
        self.my_cnf.chmod(0o600)  # it holds a password

    def mysql_up(self, node) -> bool | None:
        """The exporter's own verdict on its MariaDB login; None if the exporter did not answer."""
        code, body = http_get(node, f"http://{self.address}/metrics", timeout=2.0)
        if code != 200:
            return None
        match = re.search(r"^mysql_up (\S+)$", body, re.MULTILINE)
        return bool(match) and float(match.group(1)) == 1.0

    def is_ready(self, node) -> bool:
        return bool(self.mysql_up(node))

    def status(self, node) -> str:
        up = self.mysql_up(node)
        if up is None:
            return f"{self.address} not answering"
        return "mysql_up 1" if up else "mysql_up 0 (cannot log in to MariaDB)"
