"""The application server on every server: gunicorn (pre-fork, sync workers) running
hosts/webapp/app.py, plus the idle-capacity agent HAProxy's agent-check asks.

    lb ── TLS ──▶ nginx <backend IP>:443 ──▶ gunicorn master 127.0.0.1:<ports.app>
                                                 ├─ N sync workers (services.app.workers)
    lb ── agent-check ──▶ <backend IP>:<ports.agent> (thread in the master) → "75%"

Idle capacity = the share of FREE app workers, not CPU idle: all emulated hosts share the same
two CPUs, so CPU idle is one machine-wide number and says nothing about one server. Workers are
counted busy between gunicorn's pre_request and post_request hooks (health checks excepted: they
would only add noise) in a byte-per-worker board shared across fork (hosts/webapp/capacity.py).
All busy answers "1%", never "0%", so a busy server stays in rotation with the smallest weight
(taking servers out is the health check's job).

Per host: conf/<host>/gunicorn.conf.py (settings, hooks, the app's environment), conf/<host>/
app.json (the current MariaDB primary, and on a server without a database node the nodes it
uses; set_primary() rewrites the primary, the app reads the file on every request),
pids/<host>-app.pid, logs/<host>-app.log.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hosts
from hosts.daemon import Daemon, render
from hosts.site import DB_NAME, DB_USERS, HEALTH_PATH
from hosts.webapp.app import write_writer_file, writer_json
from runtime import command

REPO_ROOT = Path(hosts.__file__).resolve().parent.parent


class App(Daemon):
    name = "app"
    # gunicorn is a module of the testbed's virtual environment; its interpreter is the program.
    binary = sys.executable
    package = "python3"
    stage = 2
    # gunicorn's graceful stop takes ~1.1 s here (its arbiter wakes once a second to reap the
    # workers); a stopping testbed or a retime has no request left to finish.
    teardown_grace = 0.3
    ready_timeout = 20.0

    @property
    def config_path(self) -> Path:
        return self.conf_path("gunicorn.conf.py")

    @property
    def has_local_db(self) -> bool:
        return self.host in self.site.db_nodes

    @property
    def primary_file(self) -> Path:
        return self.conf_path("app.json")

    def environment(self) -> dict[str, str]:
        """What hosts/webapp/app.py reads (see its docstring)."""
        return {
            "HATESTBED_HOST": self.host,
            "HATESTBED_DB_SOCKET": str(self.site.sock(self.host, "mariadb")) if self.has_local_db else "",
            "HATESTBED_DB_NAME": DB_NAME,
            "HATESTBED_DB_USER": "app",
            "HATESTBED_DB_PASSWORD": DB_USERS["app"],
            "HATESTBED_APP_CONFIG": str(self.primary_file),
            "HATESTBED_APP_DELAY_FILE": str(self.delay_file),
        }

    @property
    def delay_file(self) -> Path:
        """Extra service time of GET / in ms (hosts/webapp/app.py SlowDown); absent: none."""
        return self.conf_path("delay_ms")

    def set_delay(self, ms: float) -> None:
        """Make this server's app slow (ms > 0) or normal again (0), at run time."""
        if ms > 0:
            self.delay_file.write_text(f"{ms:g}\n")
        else:
            self.delay_file.unlink(missing_ok=True)

    # -- pure -------------------------------------------------------------------------------------
    def files(self) -> dict[Path, str]:
        ports = self.site.services.ports
        config = render(
            "gunicorn.conf.py.j2", host=self.host, repo_root=repr(str(REPO_ROOT)),
            bind=repr(f"127.0.0.1:{ports.app}"), workers=self.site.services.app.workers,
            pidfile=repr(str(self.site.pidfile(self.host, self.name))), proc_name=repr(self.label),
            raw_env=repr([f"{k}={v}" for k, v in self.environment().items()]),
            agent_address=repr(self.site.backend_ip(self.host)), agent_port=ports.agent,
            health_path=repr(HEALTH_PATH))
        site, port = self.site, self.site.services.ports.mariadb
        writer = site.db_writer(self.host)
        nodes = [] if self.has_local_db else [{"host": n, "address": site.backend_ip(n), "port": port}
                                              for n in site.db_route(self.host)]
        writes = writer_json(writer, site.backend_ip(writer) if writer else "", port, nodes)
        return {self.config_path: config, self.primary_file: writes}

    def check_command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--check-config", "--config", str(self.config_path)]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--config", str(self.config_path)]

    # -- live -------------------------------------------------------------------------------------
    def set_primary(self, primary: str) -> None:
        """Send this app's writes to `primary` from its next request on."""
        write_writer_file(self.primary_file, primary, self.site.backend_ip(primary), self.site.services.ports.mariadb)

    def health(self, node) -> bool:
        url = f"http://127.0.0.1:{self.site.services.ports.app}/health"
        return command.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "2", url], node,
                           check=False, timeout=5).ok

    def is_ready(self, node) -> bool:
        return self.health(node)

    def agent_reply(self, node) -> str:
        """What HAProxy's agent-check hears from this server, e.g. "75%" ("" if nothing answers)."""
        address = f"/dev/tcp/{self.site.backend_ip(self.host)}/{self.site.services.ports.agent}"
        result = command.run(["bash", "-c", f"exec 3<>{address} && timeout 2 cat <&3"], node,
                             check=False, timeout=5)
        return result.stdout.strip() if result.ok else ""

    def status(self, node) -> str:
        health = "healthy" if self.health(node) else "unhealthy"
        agent = self.agent_reply(node) or "no answer"
        return f"{health}, {self.site.services.app.workers} workers, agent {agent}"
