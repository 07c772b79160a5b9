"""MariaDB on every server, in one of three modes (services.mariadb.mode):

    galera    every server a Galera node, each app writes to its own; server1 bootstraps the
              cluster (--wsrep-new-cluster, on its first start only), the others join after it,
              one at a time (stages 1.5, 1.51, ..., all below 2), by incremental transfer
              from a seeded template (galera_template_datadir); a crashed node rejoins from its recovered
              position (recover_position); timers, trade-offs and the rsync_root method
              (hosts/bin: its rsync and sleep shims): GALERA_TIMERS below and docs/services.md
    semisync  as below, a commit acknowledged once a replica has it (AFTER_SYNC)
    async     as below: one primary, the others GTID replicas that can be promoted

    server1 (services.mariadb.primary)        server2, server3
    ┌──────────────────────────┐  binlog     ┌──────────────────────────────────┐
    │ mariadbd  read-write     │ ──────────▶ │ mariadbd  read_only              │
    │ 10.0.2.12:3306 + socket  │   (repl)    │ log_slave_updates: its binlog    │
    └──────────────────────────┘             │ holds the same GTIDs → promotable│
          ▲ INSERT (app user, TCP)           └──────────────────────────────────┘
          └── every server's app (/write)          ▲ SELECT (app user, local socket: /read)

Every path is per host (one shared filesystem): datadir <run>/data/<host>/mariadb/, socket
<run>/s/<host>-mariadb.sock, pid file, my.cnf in <run>/conf/<host>/. mariadbd runs in the
foreground as root (--user=root), errors on stderr into logs/<host>-mariadb.log.

Fast bootstrap: `mariadb-install-db` takes ~0.5-1 s, so it runs once per machine into a cached
template datadir (/var/cache/hatestbed/mariadb-template-<version>-<hash of schema, accounts and
storage settings>/, built in a temp dir and renamed, under a file lock so parallel runs agree),
holding the app's database and table and the accounts of hosts/site.py DB_USERS:
    app       SELECT, INSERT, UPDATE on the app's database; from the service network and localhost
    repl      REPLICATION SLAVE; from the service network
    exporter  PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT; localhost (socket) only
    root      unix-socket authentication (the testbed's own admin commands, as OS root)
prepare() copies it per host (cp -a --reflink=auto, ~30 ms). All servers start from identical
data, so replication starts from an empty GTID position.

Promotion in the replication modes is the failover manager's job (hosts/failoverd/manager.py:
stop the IO thread, apply the relay log, RESET SLAVE ALL, read_only OFF; re-point the others by
GTID, which resumes exactly as every replica logs applied events with their original GTIDs).
The my.cnf still says read_only for a promoted replica: a restart brings it back as the role the
topology file gives it. A returning old primary may hold transactions the others never got; it
must be rebuilt (fresh copy + point_at), not re-attached.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from hosts.daemon import Daemon, ServiceError, render
from hosts.site import DB_NAME, DB_USERS, Site
from hosts.webapp.app import SCHEMA
from runtime import command
from runtime.processes import ProcessOwner
from runtime.runstate import RunDir
from runtime.wait import NotReadyError, wait_until

TEMPLATE_ROOT = Path(os.environ.get("HATESTBED_CACHE", "/var/cache/hatestbed"))

# Settings that shape the files of a datadir: the cached template is made with them and every
# server runs with them (they are part of the template's cache key).
STORAGE = {
    "innodb_log_file_size": "8M",   # the 96M default would be copied three times per run
    "innodb_file_per_table": "ON",
}
SLAVE_NET_TIMEOUT = 4  # seconds; a replica's heartbeat is half of it

RSYNC_SHIM_DIR = Path(__file__).resolve().parent / "bin"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"  # Debian's galera-4
# Group-communication timers (Galera range-checks them against each other; see the README):
# a silent node is suspected after evs.suspect_timeout, then the survivors agree on the new view
# by join messages resent every join_retrans_period. Measured on this 2-core VM, the view
# without a crashed node (`spof_sweep --faults node:s3`, galera-events.jsonl) came ~0.05 s after
# suspect + one retransmission: 1 s + 0.5 s gave 1.5-1.7 s, 0.8 s + 0.5 s 1.35 s, 0.8 s + 0.3 s
# 1.15 s (defaults overall: ~6-15 s). Under the full suite's load on a CI machine 1 s + 0.5 s
# once took 2.1 s, over the 2 s the design promises for writes after a switch loss. The price: a
# node stalled for over 0.8 s (a loaded VM, a long pause) is evicted too and must rejoin. Tried
# here before: suspect 0.7 s made joins fail and a crash was never resolved within 15 s;
# inactive/install 2 s let the two survivors of a crash split into two one-node components in 2
# of 3 trials under the full suite's load (nothing served); 3 s has not done so. Join
# retransmission 0.2 s left a node restarted just after a quorum loss unable to re-form the
# Primary component with the survivor; 0.3 s has not (test_database_studies, test_spof_sweep).
GALERA_TIMERS = {
    "evs.keepalive_period": "PT0.2S",
    "evs.inactive_check_period": "PT0.1S",
    "evs.suspect_timeout": "PT0.8S",
    "evs.inactive_timeout": "PT3S",
    "evs.install_timeout": "PT3S",
    "evs.join_retrans_period": "PT0.3S",
}
# pc.recovery's saved Primary view, and the copy a start's retry may need (before_retry).
VIEW_STATE = "gvwstate.dat"
KEPT_VIEW_STATE = "gvwstate.dat.kept"
START_MARK = "] Starting MariaDB "  # the first line of each start in the error log
GCOMM_OPEN_FAILED = "failed to open gcomm backend connection"
GALERA_CACHE = "16M"  # write-set cache for incremental state transfer (default 128M, per node)
# Joiners start after the bootstrap node is Primary and ready, one at a time, before the app
# (stage 2): two joining at once keep re-forming the membership (the second took ~5 s here
# instead of ~2 s).
JOINER_STAGE = 1.5


@functools.lru_cache(maxsize=1)
def mariadb_version() -> str:
    """e.g. "10.11.19-MariaDB-0+deb12u1", from `mariadbd --version`."""
    out = command.check_output(["mariadbd", "--version"])
    words = out.split()
    if "Ver" not in words:
        raise ServiceError(f"cannot read the MariaDB version from {out.strip()!r}")
    return words[words.index("Ver") + 1]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bootstrap_sql(site: Site) -> str:
    """The app's database and table and the testbed's accounts (run once into the template)."""
    subnet = site.topology.networks[site.backend_network].subnet
    network = _quote(f"{subnet.network_address}/{subnet.netmask}")  # MariaDB's host/netmask form
    local = "'localhost'"  # matches unix-socket connections, also with skip-name-resolve
    app, repl, exporter, failover = (_quote(DB_USERS[u]) for u in ("app", "repl", "exporter", "failover"))
    lines = [
        # Bootstrap mode starts without grant tables; loading them lets CREATE USER work.
        "FLUSH PRIVILEGES;",
        f"CREATE DATABASE {DB_NAME};",
        f"USE {DB_NAME};",
        SCHEMA.strip().rstrip(";") + ";",
    ]
    for host in (network, local):
        lines += [f"CREATE USER 'app'@{host} IDENTIFIED BY {app};",
                  f"GRANT SELECT, INSERT, UPDATE ON {DB_NAME}.* TO 'app'@{host};"]
    lines += [
        f"CREATE USER 'repl'@{network} IDENTIFIED BY {repl};",
        f"GRANT REPLICATION SLAVE ON *.* TO 'repl'@{network};",
        f"CREATE USER 'failover'@{network} IDENTIFIED BY {failover};",
        # Promote (read_only; RESET SLAVE needs RELOAD), re-point (CHANGE MASTER), observe (slave status).
        f"GRANT SUPER, RELOAD, READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR, BINLOG MONITOR "
        f"ON *.* TO 'failover'@{network};",
        f"CREATE USER 'exporter'@{local} IDENTIFIED BY {exporter} WITH MAX_USER_CONNECTIONS 3;",
        f"GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@{local};",
        # mariadb-install-db grants root proxying on the machine's host name, an entry that
        # skip-name-resolve ignores with a warning at every start.
        "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';",
    ]
    return "\n".join(lines) + "\n"


def bootstrap_cnf() -> str:
    return "[mariadbd]\n" + "".join(f"{k} = {v}\n" for k, v in STORAGE.items())


def template_datadir(site: Site) -> Path:
    """The cached, ready-made datadir for this site's schema and accounts; made on first use."""
    sql, cnf = bootstrap_sql(site), bootstrap_cnf()
    key = hashlib.sha256((sql + cnf).encode()).hexdigest()[:12]
    path = TEMPLATE_ROOT / f"mariadb-template-{mariadb_version()}-{key}"
    if path.is_dir():
        return path
    TEMPLATE_ROOT.mkdir(parents=True, exist_ok=True)
    # flock excludes other threads (own open file) and other testbed processes alike.
    with open(TEMPLATE_ROOT / "mariadb-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_dir():
            return path
        for stale in TEMPLATE_ROOT.glob(".mariadb-template-tmp-*"):  # a crashed build; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=".mariadb-template-tmp-", dir=TEMPLATE_ROOT))
        try:
            (work / "bootstrap.cnf").write_text(cnf)
            (work / "bootstrap.sql").write_text(sql)
            result = command.run(
                ["mariadb-install-db", f"--defaults-file={work / 'bootstrap.cnf'}", f"--datadir={work / 'datadir'}",
                 "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db",
                 "--skip-name-resolve", f"--extra-file={work / 'bootstrap.sql'}"],
                check=False, timeout=120)
            if not result.ok:
                detail = (result.stdout + result.stderr).strip().splitlines()[:5]
                raise ServiceError(f"mariadb-install-db failed (rc {result.rc}): {' | '.join(detail)}")
            os.rename(work / "datadir", path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


def galera_template_datadir(site: Site) -> Path:
    """The template datadir after one start as a one-node Galera cluster: its history UUID and
    position are then in grastate.dat and InnoDB alike (built once per template, cached).

    Every node of every run starts from a copy: the bootstrap node founds the cluster at that
    position and a joiner already holds it, so it joins with no state transfer at all, or an
    incremental one from the donor's write-set cache. Without this a joiner's state is
    undefined and it needs a full snapshot transfer (rsync, mariadbd restarted: ~4 s per joiner
    here, one at a time). All runs share the history UUID: their data does descend from the
    same template, and their clusters never meet (separate namespaces, one run at a time).

    The one-node cluster runs in a network namespace of its own (`unshare --net`, loopback
    only): nothing listens on the machine's addresses, and no port can clash with a running
    testbed's. ~1 s, once per machine and template.
    """
    plain = template_datadir(site)
    path = plain.with_name(plain.name + "-galera")
    if path.is_dir():
        return path
    with open(TEMPLATE_ROOT / "mariadb-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_dir():
            return path
        work = Path(tempfile.mkdtemp(prefix=".mariadb-template-tmp-", dir=TEMPLATE_ROOT))
        try:
            shutil.copytree(plain, work / "datadir", symlinks=True)
            _found_one_node_cluster(site, work)
            os.rename(work / "datadir", path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


def _found_one_node_cluster(site: Site, work: Path, timeout: float = 60.0) -> None:
    """Start mariadbd on work/datadir as a new one-node Galera cluster (a process of the run,
    recorded like every other), wait until it is ready, shut it down cleanly (which saves the
    position) and check the saved state."""
    datadir, sock = work / "datadir", work / "mariadb.sock"
    (work / "galera.cnf").write_text(
        bootstrap_cnf() + f"datadir = {datadir}\nsocket = {sock}\npid-file = {work / 'mariadb.pid'}\n"
        "skip-networking\nbinlog_format = ROW\ninnodb_autoinc_lock_mode = 2\nwsrep_on = ON\n"
        f"wsrep_provider = {GALERA_PROVIDER}\nwsrep_cluster_address = gcomm://\n"
        f"wsrep_provider_options = \"gmcast.listen_addr=tcp://127.0.0.1:4567; gcache.size={GALERA_CACHE}\"\n")
    mariadbd = f"exec mariadbd --defaults-file={work / 'galera.cnf'} --user=root --wsrep-new-cluster"
    client = ["mariadb", "--no-defaults", f"--socket={sock}", "--user=root", "--batch", "--skip-column-names", "-e"]
    # group: a failed build's stop reaches mariadbd too (unshare ignores SIGTERM while it waits).
    proc = ProcessOwner(RunDir(site.run_path)).start(
        "mariadb-template-galera", ["unshare", "--net", "--kill-child", "sh", "-c", f"ip link set lo up && {mariadbd}"],
        log=work / "mariadb.log", group=True)
    try:
        proc.wait_ready(lambda: command.run(client + ["SHOW GLOBAL STATUS LIKE 'wsrep_ready'"], check=False,
                                            timeout=5).stdout.split() == ["wsrep_ready", "ON"],
                        timeout, "the one-node Galera cluster for the template", interval=0.1)
        command.run(client + ["SHUTDOWN"], timeout=10)
        if not proc.wait(timeout):
            raise ServiceError(f"the one-node Galera cluster for the template did not stop within {timeout:g} s")
    finally:
        proc.stop()  # "had exited" after a clean shutdown
    state = (datadir / "grastate.dat").read_text()
    if "seqno:   -1" in state or "safe_to_bootstrap: 1" not in state:
        raise ServiceError(f"the template's Galera state was not saved: {' | '.join(state.splitlines()[1:])}")


class MariaDB(Daemon):
    name = "mariadb"
    binary = "mariadbd"
    package = "mariadb-server"
    ready_timeout = 30.0  # InnoDB recovery after a crash can take a while on a shared CPU
    # A Galera node leaving the group cleanly takes ~1.1 s; at teardown every node stops at once
    # and the datadirs go with the run directory, so nothing is kept by waiting.
    teardown_grace = 0.3

    @classmethod
    def wanted(cls, site: Site, host: str) -> bool:
        return host in site.db_nodes

    def __init__(self, site: Site, host: str):
        super().__init__(site, host)
        self.datadir = site.data(host, "mariadb")
        self.socket = site.sock(host, "mariadb")
        self.pidfile = site.pidfile(host, "mariadb")
        self.cnf = self.conf_path("my.cnf")
        self.notify = self.conf_path("galera-notify.sh")
        # galera: set by prepare(): only a first start of the bootstrap node founds the cluster;
        # every restart (a crash's recovery) joins the running one.
        self.new_cluster = False
        # galera: set by prepare() after a crash: the position InnoDB recovered (uuid:seqno).
        self.start_position: str | None = None

    @property
    def galera(self) -> bool:
        return self.site.db_mode == "galera"

    @property
    def start_retries(self) -> int:
        """galera: 2 (a retry can meet the first start's trouble again; each costs ~1 s). A node restarted after both of its peers' crashes re-forms the last Primary
        component with the survivor from its saved view (pc.recovery); when it had lost its last
        committed write-set in the crash, MariaDB refuses the state it is handed ("SST script
        passed bogus GTID") and the node exits, leaving the survivor Primary alone. Started once
        more, it joins that Primary component by incremental transfer (CI saw it once in ~10
        server_failover runs: the second crash's recovery). A start that never reached the group
        gets its saved view back first (before_retry)."""
        return 2 if self.galera else 0

    @property
    def stage(self) -> float:  # per instance: Galera joiners start after the bootstrap node
        if self.is_primary or not self.galera:
            return 1
        joiners = [s for s in self.site.db_nodes if s != self.site.primary_db]
        # 1.5, 1.51, ...: steps of 1/100 up to 50 joiners, finer beyond, always below stage 2
        # (the apps): at 1/100, the 51st joiner would start with the apps, not before them.
        return JOINER_STAGE + joiners.index(self.host) / max(100, 2 * len(joiners))

    def sockets(self) -> list[Path]:
        return [self.socket]

    @property
    def server_id(self) -> int:
        return self.site.db_nodes.index(self.host) + 1

    @property
    def is_primary(self) -> bool:
        """The role the topology file gives this server at start-up."""
        return self.host == self.site.primary_db

    # -- pure -------------------------------------------------------------------------------------
    @property
    def role(self) -> str:
        if self.galera:
            return "galera bootstrap node" if self.is_primary else "galera node"
        return "primary" if self.is_primary else "replica"

    def galera_settings(self) -> dict:
        ports, bind = self.site.services.ports, self.site.backend_ip(self.host)
        options = {"gmcast.listen_addr": f"tcp://{bind}:{ports.galera}", "ist.recv_addr": f"{bind}:{ports.galera_ist}",
                   "gcache.size": GALERA_CACHE, **GALERA_TIMERS}
        return {"provider": GALERA_PROVIDER, "cluster_name": self.site.topology.name, "port": ports.galera,
                "sst_port": ports.galera_sst, "notify": self.notify,
                "members": [f"{self.site.backend_ip(s)}:{ports.galera}" for s in self.site.db_nodes],
                "provider_options": "; ".join(f"{k}={v}" for k, v in options.items())}

    def files(self) -> dict[Path, str]:
        mariadb = self.site.services.mariadb
        files = {self.cnf: render(
            "mariadb.cnf.j2", host=self.host, role=self.role, mode=mariadb.mode,
            datadir=self.datadir, socket=self.socket, pidfile=self.pidfile, log=self.log_path,
            bind=self.site.backend_ip(self.host), port=self.site.services.ports.mariadb,
            server_id=self.server_id, read_only=not self.is_primary, slave_net_timeout=SLAVE_NET_TIMEOUT,
            semisync_timeout_ms=mariadb.semisync_timeout_ms, galera=self.galera_settings(),
            storage=STORAGE, buffer_pool_mb=mariadb.buffer_pool_mb)}
        if self.galera:
            files[self.notify] = render("galera-notify.sh.j2", host=self.host, events=self.site.galera_events)
        return files

    def check_command(self) -> list[str]:
        # --help --verbose parses the whole file and fails on an unknown variable, starting nothing.
        return ["mariadbd", f"--defaults-file={self.cnf}", "--user=root", "--help", "--verbose"]

    def command(self) -> list[str]:
        argv = ["mariadbd", f"--defaults-file={self.cnf}", "--user=root"]
        if not self.galera:
            return argv
        # env execs mariadbd (same pid) with hosts/bin first on PATH: the state transfer's rsync
        # daemon must stay root (see hosts/bin/rsync).
        path = f"PATH={RSYNC_SHIM_DIR}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        if self.new_cluster:
            argv.append("--wsrep-new-cluster")
        if self.start_position:
            argv.append(f"--wsrep-start-position={self.start_position}")
        return ["env", path] + argv

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        """Give this host its datadir: a copy of the cached template (kept if it already exists)."""
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.new_cluster = self.galera and self.is_primary and not self.datadir.exists()
        self.start_position = None
        if self.datadir.exists():
            if self.galera:
                self._keep_view_state()
                if "seqno:   -1" in (self.datadir / "grastate.dat").read_text():
                    self.start_position = self.recover_position(node)
            return
        template = galera_template_datadir(self.site) if self.galera else template_datadir(self.site)
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        command.run(["cp", "-a", "--reflink=auto", template, self.datadir])
        if self.galera and not self.is_primary:  # only the bootstrap node may found the cluster
            state = self.datadir / "grastate.dat"
            state.write_text(state.read_text().replace("safe_to_bootstrap: 1", "safe_to_bootstrap: 0"))

    def _keep_view_state(self) -> None:
        """Copy the saved Primary view (gvwstate.dat, pc.recovery) before a start, for before_retry."""
        view, kept = self.datadir / VIEW_STATE, self.datadir / KEPT_VIEW_STATE
        if view.exists():
            shutil.copy2(view, kept)
        else:
            kept.unlink(missing_ok=True)

    def before_retry(self, node) -> None:
        """galera: a start that died before it reached the group gets its saved view back.

        Restarted right after a quorum loss, a node restores its last Primary view, and the
        survivor may still list the node's previous incarnation at the node's own address: the
        restored node then aborts ("Trying to add self addr ... to addr list", Galera's gmcast)
        and Galera deletes gvwstate.dat on the way out. Started again without it, the node comes
        with a new identity, the survivor waits for the old one to re-form that view, and no
        Primary component ever forms again (seen here: server_failover's double crash, about
        one recovery in four when the second crash follows the view change at once). With the
        view back, the retry re-forms it. A start that did reach the group (the survivor handed
        it state it refused) keeps what Galera left."""
        if not self.galera or GCOMM_OPEN_FAILED not in self.last_start_log():
            return
        view, kept = self.datadir / VIEW_STATE, self.datadir / KEPT_VIEW_STATE
        if kept.exists() and not view.exists():
            shutil.copy2(kept, view)

    def last_start_log(self) -> str:
        """This daemon's log since its last start ("" if there is none)."""
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text[text.rfind(START_MARK):] if START_MARK in text else text

    def recover_position(self, node) -> str | None:
        """After a crash: the last committed position (uuid:seqno) InnoDB recovers, or None.

        A node that crashed saved no position (grastate.dat says seqno -1), so on its own it
        would ask for a full snapshot transfer. With the position it recovered (what
        mysqld_safe's --wsrep-recover step does; this testbed runs mariadbd without
        mysqld_safe) it presents that position and gets an incremental transfer of what it
        missed from a donor's write-set cache, ~2 s sooner here. None (a snapshot transfer
        then) if InnoDB recovers no position.
        """
        log = self.conf_path("wsrep-recover.log")
        log.unlink(missing_ok=True)
        command.run(["mariadbd", f"--defaults-file={self.cnf}", "--user=root", "--wsrep-recover",
                     f"--log-error={log}"], node, check=False, timeout=60)
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if "WSREP: Recovered position:" in line:
                position = line.rsplit("Recovered position:", 1)[1].strip()
                return None if position.endswith(":-1") else position
        return None

    def sql(self, node, statement: str, timeout: float = 10) -> list[dict[str, str]]:
        """Run SQL as root over this server's socket inside `node`; the last result set as rows.

        Values are text as the client prints them in batch mode ("NULL" for NULL).
        """
        result = command.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root", "--batch",
                              "--connect-timeout=2", "-e", statement], node, check=False, timeout=timeout)
        if not result.ok:
            raise ServiceError(f"{self.label}: `{statement}` failed: {result.stderr.strip()}")
        lines = result.stdout.splitlines()
        if not lines:
            return []
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"))) for line in lines[1:]]

    def is_ready(self, node) -> bool:
        try:
            if self.galera:
                state = self.galera_state(node)
                return state["ready"] and state["state"] == "Synced"
            return self.sql(node, "SELECT 1 AS ok", timeout=5) == [{"ok": "1"}]
        except ServiceError:
            return False

    def after_ready(self, node) -> None:
        if not self.is_primary and not self.galera:
            self.point_at(node, self.site.primary_db)

    def galera_state(self, node) -> dict:
        """ready (bool), state (Synced, Donor/Desynced, Joined...), cluster ("Primary" or
        "non-Primary": this node's component has no quorum), size, members."""
        rows = self.sql(node, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', "
                              "'wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_cluster_size', "
                              "'wsrep_incoming_addresses')")
        values = {row["Variable_name"]: row["Value"] for row in rows}
        addresses = values.get("wsrep_incoming_addresses", "")
        return {"ready": values.get("wsrep_ready") == "ON", "state": values.get("wsrep_local_state_comment", ""),
                "cluster": values.get("wsrep_cluster_status", ""), "size": int(values.get("wsrep_cluster_size") or 0),
                "members": [self._server_at(a.rsplit(":", 1)[0]) for a in addresses.split(",") if a]}

    def semisync_active(self, node) -> bool | None:
        """semisync mode on a primary: True while commits wait for a replica's acknowledgement,
        False once it silently fell back to async; None where it does not apply."""
        if self.site.db_mode != "semisync":
            return None
        rows = self.sql(node, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
        return bool(rows) and rows[0]["Value"] == "ON"

    def point_at(self, node, primary: str, timeout: float = 10.0) -> None:
        """Replicate from `primary` by GTID (first attach, or re-point after a promotion)."""
        ports = self.site.services.ports
        self.sql(node, "STOP SLAVE; "
                       f"CHANGE MASTER TO MASTER_HOST = {_quote(self.site.backend_ip(primary))}, "
                       f"MASTER_PORT = {ports.mariadb}, MASTER_USER = 'repl', "
                       f"MASTER_PASSWORD = {_quote(DB_USERS['repl'])}, MASTER_USE_GTID = slave_pos, "
                       "MASTER_CONNECT_RETRY = 1; START SLAVE")

        def replicating() -> bool:
            state = self.replication_state(node)
            return state["io_running"] == "Yes" and state["sql_running"] == "Yes"

        try:
            wait_until(replicating, timeout, f"{self.label} replicating from {primary}", interval=0.05)
        except NotReadyError as exc:
            state = self.replication_state(node)
            raise ServiceError(f"{exc}: IO {state['io_running']} ({state['last_io_error'] or 'no error'}), "
                               f"SQL {state['sql_running']} ({state['last_sql_error'] or 'no error'})") from None

    def replication_state(self, node) -> dict:
        """role (primary | replica | read-only standalone), read_only, GTID positions,
        replicas_connected; for a replica also master, io_running, sql_running, lag (s or None),
        last_io_error, last_sql_error, gtid_io_pos."""
        own = self.sql(node, "SELECT @@read_only AS read_only, @@gtid_current_pos AS gtid_current_pos, "
                             "@@gtid_slave_pos AS gtid_slave_pos, @@gtid_binlog_pos AS gtid_binlog_pos, "
                             "(SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                             " WHERE COMMAND LIKE 'Binlog Dump%') AS replicas_connected")[0]
        state = {
            "read_only": own["read_only"] == "1",
            "gtid_current_pos": own["gtid_current_pos"],
            "gtid_slave_pos": own["gtid_slave_pos"],
            "gtid_binlog_pos": own["gtid_binlog_pos"],
            "replicas_connected": int(own["replicas_connected"]),
        }
        replica = self.sql(node, "SHOW SLAVE STATUS")
        if not replica:
            state["role"] = "read-only standalone" if state["read_only"] else "primary"
            return state
        row = replica[0]
        lag = row["Seconds_Behind_Master"]
        state.update(
            role="replica",
            master_host=row["Master_Host"],
            master=self._server_at(row["Master_Host"]),
            io_running=row["Slave_IO_Running"],
            sql_running=row["Slave_SQL_Running"],
            lag=None if lag == "NULL" else int(lag),
            last_io_error=row["Last_IO_Error"],
            last_sql_error=row["Last_SQL_Error"],
            gtid_io_pos=row["Gtid_IO_Pos"],
        )
        return state

    def _server_at(self, ip: str) -> str:
        for server in self.site.db_nodes:
            if self.site.backend_ip(server) == ip:
                return server
        return ip

    def status(self, node) -> str:
        try:
            if self.galera:
                g = self.galera_state(node)
                ready = "ready" if g["ready"] else "NOT ready for queries"
                return f"galera {g['state'] or 'unknown'}, {ready}, {g['cluster']} component of {g['size']}"
            state = self.replication_state(node)
            semisync = self.semisync_active(node) if state["role"] == "primary" else None
        except ServiceError as exc:
            return f"not answering ({exc})"
        if state["role"] != "replica":
            text = f"{state['role']}, {state['replicas_connected']} replicas connected"
            if semisync is not None:
                text += ", semisync ON" if semisync else ", semisync OFF: FELL BACK TO ASYNC"
            return text
        lag = "unknown" if state["lag"] is None else f"{state['lag']}s"
        io, sql = _running(state["io_running"]), _running(state["sql_running"])
        threads = f"IO/SQL {io}" if io == sql else f"IO {io}, SQL {sql}"
        text = f"replica of {state['master']}, {threads}, lag {lag}"
        error = state["last_io_error"] or state["last_sql_error"]
        return f"{text}, error: {error}" if error else text


def _running(value: str) -> str:
    return {"Yes": "running", "No": "stopped"}.get(value, value.lower())
