"""nginx on every server: terminates TLS with the run's certificate and proxies to the app.

    lb1/lb2 ── TLS (CA-verified, SNI www.hatestbed.test) ──▶ nginx <backend IP>:<ports.https>
                                                              │ X-Forwarded-For, X-Forwarded-Proto
                                                              ▼
                                                  gunicorn 127.0.0.1:<ports.app> (X-Served-By back)

A bulkhead in front of the app: at most database_slots() requests to /read and /write together
wait on the database at once (4 of the app's 6 sync workers); more are refused at once with
503, so two workers stay free for `/` and /health. Without it, commits blocked while
Galera agreed on a new view held every worker of the surviving servers, their /health timed out
and the balancers had no server at all for ~1 s (10 of 10 db_failover trials). With writes
alone bounded (2 of 4 workers), causal reads (wsrep_sync_wait 1) blocked through the view change
filled the rest: the SPOF sweep's node:s3 marked the surviving server DOWN 0.5 s in, and web
was back only after 2.1 s; a Galera view change now costs reads and writes, not web.

One foreground master (`daemon off`, its pid recorded by the manager) and one worker. Every path
nginx would otherwise take from its compiled-in defaults (pid, error log, the five temp dirs) is
set per host: all Mininet hosts share one filesystem. The start-up error log is given with -e,
so not even `nginx -t` touches /var/log/nginx.
"""

from __future__ import annotations

from pathlib import Path

from hosts.daemon import Daemon, render
from hosts.site import HEALTH_PATH, SERVED_BY_HEADER
from runtime import command

class Nginx(Daemon):
    name = "nginx"
    binary = "nginx"
    package = "nginx-light"
    stage = 3
    ready_timeout = 10.0

    @property
    def config_path(self) -> Path:
        return self.conf_path("nginx.conf")

    @property
    def temp_dir(self) -> Path:
        return self.site.data(self.host, "nginx")

    @property
    def access_log(self) -> Path:
        return self.site.log(self.host, "nginx-access")

    # -- pure -------------------------------------------------------------------------------------
    def database_slots(self) -> int:
        """How many requests that wait on the database (/read, /write) may run at once: all the
        app's workers but two, kept for `/` and /health (4 of 6). With Galera's causal reads
        (wsrep_sync_wait 1) a read waits through a view change like a commit does."""
        return max(1, self.site.services.app.workers - 2)

    def files(self) -> dict[Path, str]:
        site, ports = self.site, self.site.services.ports
        return {self.config_path: render(
            "nginx.conf.j2", host=self.host, pidfile=site.pidfile(self.host, self.name),
            error_log=self.log_path, access_log=self.access_log, temp=self.temp_dir,
            app_port=ports.app, address=site.backend_ip(self.host), https_port=ports.https,
            server_name=site.services.server_name, cert=site.tls_cert(self.host), key=site.tls_key(self.host),
            served_by=SERVED_BY_HEADER, database_slots=self.database_slots(),
            workers=self.site.services.app.workers)}

    def _argv(self) -> list[str]:
        # -p: relative paths (none are used) resolve per host, not under /usr/share/nginx.
        return ["nginx", "-e", str(self.log_path), "-p", f"{self.temp_dir}/", "-c", str(self.config_path)]

    def check_command(self) -> list[str]:
        # nginx -t creates the temp dirs itself but not their parent, and the check runs before
        # prepare(): make the parent first.
        return ["sh", "-c", 'mkdir -p "$0" && exec "$@"', str(self.temp_dir), *self._argv(), "-t", "-q"]

    def command(self) -> list[str]:
        return self._argv()

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)  # nginx makes the five temp dirs in it

    def url(self, path: str = HEALTH_PATH) -> str:
        return f"https://{self.site.services.server_name}:{self.site.services.ports.https}{path}"

    def curl_args(self) -> list[str]:
        """curl options that reach this server by name and verify it with the run's CA (never -k)."""
        https = self.site.services.ports.https
        return ["--cacert", str(self.site.tls_ca),
                "--resolve", f"{self.site.services.server_name}:{https}:{self.site.backend_ip(self.host)}"]

    def is_ready(self, node) -> bool:
        return command.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "2", *self.curl_args(), self.url()],
                           node, check=False, timeout=5).ok
