"""The database failover manager as a daemon of the site (replication modes only): rendered
config, owned process, health and status. The program is hosts/failoverd/manager.py.

    monitor ── failover manager ──TCP 3306 (account "failover")──▶ every server's MariaDB
               │ journal: logs/db-failover.jsonl (one JSON line per decision, timestamped)
               └ rewrites conf/<server>/app.json on promotion (where each app writes)

It runs on the first monitor host; the firewall lets that host reach MariaDB (an implied rule,
hosts/firewall.py). Galera mode has no manager: the cluster fails over by itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hosts.app import REPO_ROOT, App
from hosts.daemon import Daemon
from hosts.site import DB_USERS, Site

# Detection timer: a check every INTERVAL s, each connect bounded by CONNECT_TIMEOUT s; the
# primary is lost after FAIL_AFTER failed rounds in a row (~0.6-0.9 s after it stops answering).
INTERVAL = 0.2
FAIL_AFTER = 3
CONNECT_TIMEOUT = 0.3


def manager_host(site: Site) -> str | None:
    """Where the manager runs: the first monitor, in the replication modes; else nowhere."""
    if site.db_mode == "galera" or not site.monitors or len(site.db_nodes) < 2:
        return None
    return site.monitors[0]


class Failover(Daemon):
    name = "failover"
    binary = sys.executable
    package = "python3"
    stage = 2  # after every MariaDB is ready and every replica attached

    @classmethod
    def wanted(cls, site: Site, host: str) -> bool:
        return manager_host(site) == host

    @property
    def config_path(self) -> Path:
        return self.conf_path("failover.json")

    @property
    def journal(self) -> Path:
        return self.site.run_path / "logs" / "db-failover.jsonl"

    @property
    def state_path(self) -> Path:
        return self.site.data(self.host, self.name) / "state.json"

    def files(self) -> dict[Path, str]:
        site = self.site
        config = {
            "servers": {s: site.backend_ip(s) for s in site.db_nodes},
            "port": site.services.ports.mariadb, "primary": site.primary_db,
            "user": "failover", "password": DB_USERS["failover"],
            "repl_user": "repl", "repl_password": DB_USERS["repl"],
            "interval": INTERVAL, "fail_after": FAIL_AFTER, "connect_timeout": CONNECT_TIMEOUT,
            "semisync": site.db_mode == "semisync",
            "writer_files": {s: str(App(site, s).primary_file) for s in site.servers},
            "journal": str(self.journal), "state": str(self.state_path),
        }
        return {self.config_path: json.dumps(config, indent=2) + "\n"}

    def command(self) -> list[str]:
        # env execs the interpreter (same pid) with the repository importable.
        return ["env", f"PYTHONPATH={REPO_ROOT}", sys.executable, "-m", "hosts.failoverd.manager", str(self.config_path)]

    def prepare(self, node) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.journal.parent.mkdir(parents=True, exist_ok=True)

    def events(self) -> list[dict]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line.strip()]

    def is_ready(self, node) -> bool:
        return any(e["event"] == "started" for e in self.events())

    def status(self, node) -> str:
        events = self.events()
        primary = next((e.get("server") for e in reversed(events) if e["event"] == "promoted"), self.site.primary_db)
        last = events[-1] if events else {"event": "no journal yet"}
        return f"watching, primary {primary}, last: {last['event']}"
