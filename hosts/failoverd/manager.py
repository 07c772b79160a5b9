"""The database failover manager: always on, one process, for the replication modes (semisync,
async). Galera needs none: the cluster evicts a dead node itself.

    monitor host                                       servers (MariaDB over TCP, admin account)
    manager ── every interval: one check per server ──▶ server1 (primary)  server2, server3 (replicas)
       │  primary misses `fail_after` rounds in a row, no replica streams from it any more
       ├─ promote the replica that received the most: stop IO, apply the relay log, RESET SLAVE ALL,
       │  read_only OFF
       ├─ re-point the other replicas at it by GTID
       └─ rewrite every app's writer file (conf/<server>/app.json): the next write goes there
    every observation that changes something and every action: one JSON line in the journal

Detection timer: a round checks every server with a `connect_timeout` (s) each; the primary is
declared lost after `fail_after` failed rounds `interval` (s) apart, i.e. after about
fail_after × interval + connect_timeout at most, and only once no replica still streams from it.

Limits (named, not hidden): one manager (it is itself a single point of failure for *recovery*,
not for serving); no fencing of a lost primary beyond setting an old primary read_only when it
answers again (a primary that is alive but cut off from the manager and the replicas keeps
accepting writes from the apps that still reach it); no re-attaching of a returned old primary
(it may hold writes nobody else has: rebuild it).

Run: python -m hosts.failoverd.manager CONFIG.json   (written by hosts/failover.py)
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from hosts.failoverd.decision import Decision, Seen, decide
from hosts.webapp.app import write_writer_file


class Journal:
    def __init__(self, path: Path):
        self.path = path

    def write(self, event: str, **detail) -> None:
        line = json.dumps({"t": round(time.time(), 6), "event": event, **detail})
        with open(self.path, "a") as out:  # one O_APPEND write per line
            out.write(line + "\n")
        print(line, flush=True)


class Manager:
    def __init__(self, config: dict):
        self.c = config
        self.servers: dict[str, str] = config["servers"]  # name → address
        self.by_address = {a: s for s, a in self.servers.items()}
        # The primary it promoted last survives a restart of the manager (state file).
        self.state = Path(config["state"])
        self.primary: str = json.loads(self.state.read_text())["primary"] if self.state.exists() else config["primary"]
        self.failures = 0
        self.journal = Journal(Path(config["journal"]))
        self.last_reason = ""
        self.last_error = ""
        self.last_semisync: bool | None = None
        self.promoting = False

    # -- MariaDB ---------------------------------------------------------------------------------
    def connect(self, server: str, timeout: float):
        import pymysql

        return pymysql.connect(host=self.servers[server], port=self.c["port"], user=self.c["user"],
                               password=self.c["password"], connect_timeout=timeout, read_timeout=timeout + 5,
                               write_timeout=timeout + 5, autocommit=True, cursorclass=pymysql.cursors.DictCursor)

    def observe(self, server: str) -> Seen | None:
        try:
            with self.connect(server, self.c["connect_timeout"]) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@read_only AS ro, @@gtid_binlog_pos AS pos")
                own = cur.fetchone()
                cur.execute("SHOW SLAVE STATUS")
                replica = cur.fetchone()
                cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
                semi = cur.fetchone()
        except Exception:
            return None
        read_only = bool(int(own["ro"]))
        if replica:
            return Seen("replica", read_only, io_running=replica["Slave_IO_Running"],
                        master=self.by_address.get(replica["Master_Host"], replica["Master_Host"]),
                        received=replica["Gtid_IO_Pos"])
        role = "read-only standalone" if read_only else "primary"
        semisync = None if not semi or not self.c["semisync"] else semi["Value"] == "ON"
        return Seen(role, read_only, received=own["pos"] or "", semisync=semisync)

    def run_sql(self, server: str, *statements: str) -> list:
        rows = []
        with self.connect(server, 2.0) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                rows = cur.fetchall()
        return rows

    # -- actions ---------------------------------------------------------------------------------
    def promote(self, decision: Decision, seen: Seen) -> None:
        new = decision.new_primary
        steps = {}
        began = time.monotonic()
        self.run_sql(new, "STOP SLAVE IO_THREAD")
        steps["stop_io_s"] = round(time.monotonic() - began, 3)
        if seen.received:
            # Apply everything it received before it takes writes (bounded: 10 s).
            waited = self.run_sql(new, f"SELECT MASTER_GTID_WAIT('{seen.received}', 10) AS r")
            if waited and str(waited[0]["r"]) != "0":
                self.journal.write("relay_log_not_applied", server=new, received=seen.received)
        steps["apply_relay_log_s"] = round(time.monotonic() - began - steps["stop_io_s"], 3)
        writable = ["STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"]
        if self.c["semisync"]:  # the new primary waits for its replicas' acknowledgements
            writable.append("SET GLOBAL rpl_semi_sync_master_enabled = ON")
        self.run_sql(new, *writable)
        steps["total_s"] = round(time.monotonic() - began, 3)
        self.journal.write("promoted", server=new, old_primary=self.primary, **steps)
        for other in decision.repoint:
            try:
                self.run_sql(other, "STOP SLAVE",
                             f"CHANGE MASTER TO MASTER_HOST = '{self.servers[new]}', MASTER_PORT = {self.c['port']}, "
                             f"MASTER_USER = '{self.c['repl_user']}', MASTER_PASSWORD = '{self.c['repl_password']}', "
                             "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1", "START SLAVE")
                self.journal.write("repointed", server=other, primary=new)
            except Exception as exc:
                self.journal.write("repoint_failed", server=other, error=str(exc))
        for path in self.c["writer_files"].values():
            write_writer_file(Path(path), new, self.servers[new], self.c["port"])
        self.journal.write("apps_switched", primary=new, apps=sorted(self.c["writer_files"]))
        self.primary = new
        self.failures = 0
        self.state.write_text(json.dumps({"primary": new}) + "\n")

    def fence(self, server: str) -> None:
        try:
            self.run_sql(server, "SET GLOBAL read_only = ON")
            self.journal.write("fenced", server=server, reason=f"writable but {self.primary} is the primary")
        except Exception as exc:
            self.journal.write("fence_failed", server=server, error=str(exc))

    # -- loop ------------------------------------------------------------------------------------
    def round(self) -> None:
        observed = {s: self.observe(s) for s in self.servers}
        primary_seen = observed[self.primary]
        if primary_seen is None:
            self.failures += 1
            if self.failures == 1:
                self.journal.write("primary_check_failed", primary=self.primary)
        elif self.failures:
            self.journal.write("primary_answers_again", primary=self.primary, after_failures=self.failures)
            self.failures = 0
        semisync = primary_seen.semisync if primary_seen else None
        if semisync is not None and semisync != self.last_semisync:
            self.journal.write("semisync_on" if semisync else "semisync_fell_back_to_async", primary=self.primary)
        self.last_semisync = semisync
        decision = decide(self.primary, self.failures, observed, self.c["fail_after"])
        for server in decision.fence:
            self.fence(server)
        if decision.action in ("wait", "stuck") and decision.reason != self.last_reason and self.failures:
            self.journal.write(decision.action, reason=decision.reason)
        self.last_reason = decision.reason
        if decision.action == "promote":
            try:
                if not self.promoting:
                    self.journal.write("primary_lost", primary=self.primary, failures=self.failures,
                                       reason=decision.reason, chosen=decision.new_primary)
                self.promoting = True
                self.promote(decision, observed[decision.new_primary])
                self.promoting = False
            except Exception as exc:  # retried next round; journaled once per distinct error
                if str(exc) != self.last_error:
                    self.journal.write("promotion_failed", server=decision.new_primary, error=str(exc))
                self.last_error = str(exc)

    def run(self) -> None:
        self.journal.write("started", primary=self.primary, interval=self.c["interval"],
                           fail_after=self.c["fail_after"], connect_timeout=self.c["connect_timeout"])
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        while not stop:
            began = time.monotonic()
            self.round()
            time.sleep(max(0.0, self.c["interval"] - (time.monotonic() - began)))
        self.journal.write("stopped", primary=self.primary)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hosts.failoverd.manager CONFIG.json", file=sys.stderr)
        return 2
    Manager(json.loads(Path(argv[0]).read_text())).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
