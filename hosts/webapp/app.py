"""The testbed's web application: plain WSGI, run by gunicorn on every server (see hosts/app.py).

    GET  /         200 "<host>"                          no database: for load-distribution tests
    GET  /health   200 "ok" if its MariaDB answers (a Galera node: and has quorum), else 503
    GET  /read     200 {"server", "rows", "last_id"}      from its database (a replica may lag)
    GET  /read?from=ID  the same, plus "rows_from": [[id, written_by, payload], ...] for id >= ID
    POST /write    201 {"server", "id", "primary"}        INSERT on the CURRENT primary, body as payload
    "its MariaDB": the LOCAL node, or on a server without one the first node of its route that serves
    every response carries  X-Served-By: <host>

    nginx :443 ──▶ gunicorn 127.0.0.1:8000 ──▶ /read, /health: local mariadbd (unix socket)
                                           │     (no local node: the route's nodes, TCP, in order)
                                           └──▶ /write: the primary named in HATESTBED_APP_CONFIG (TCP)
                                                 (Galera: the local node, or the route's first that serves)

Settings come from the environment (the App daemon sets them through gunicorn's raw_env):
    HATESTBED_HOST          this server's name
    HATESTBED_DB_SOCKET     the local MariaDB's unix socket (empty: no local node; see Database)
    HATESTBED_DB_NAME, HATESTBED_DB_USER, HATESTBED_DB_PASSWORD
    HATESTBED_APP_CONFIG    a JSON file {"primary": {"host", "address", "port"} | null, "nodes": [...]},
                            read on every request: a promotion rewrites "primary" and the next
                            write goes to the new primary; "nodes": see Database

This module imports only the standard library and PyMySQL: gunicorn workers stay small.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

TABLE = "entries"
# The app's table; hosts/mariadb.py creates it in the cached template datadir.
SCHEMA = f"""
CREATE TABLE {TABLE} (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    written_by VARCHAR(32) NOT NULL,
    payload VARCHAR(255) NOT NULL DEFAULT '',
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB
"""
SERVED_BY_HEADER = "X-Served-By"  # = hosts.site.SERVED_BY_HEADER (not imported: keeps workers light)
MAX_BODY = 4096


@dataclass(frozen=True)
class Settings:
    host: str
    db_socket: str
    db_name: str
    db_user: str
    db_password: str
    config_path: Path
    delay_file: Path | None = None  # extra service time for "/" (see SlowDown)

    @classmethod
    def from_env(cls, env=os.environ) -> Settings:
        try:
            delay = env.get("HATESTBED_APP_DELAY_FILE")
            return cls(host=env["HATESTBED_HOST"], db_socket=env["HATESTBED_DB_SOCKET"],
                       db_name=env["HATESTBED_DB_NAME"], db_user=env["HATESTBED_DB_USER"],
                       db_password=env["HATESTBED_DB_PASSWORD"], config_path=Path(env["HATESTBED_APP_CONFIG"]),
                       delay_file=Path(delay) if delay else None)
        except KeyError as exc:
            raise RuntimeError(f"the app needs the environment variable {exc.args[0]}") from None


class SlowDown:
    """Extra service time for GET / (a slow dependency, as a real server has one), in
    milliseconds as text in a file; absent or empty: none. The file is only re-read when its
    modification time changes, so an experiment makes one server slow at run time, no restart."""

    def __init__(self, path: Path | None):
        self.path = path
        self._stamp: int | None = None
        self._seconds = 0.0

    def seconds(self) -> float:
        if self.path is None:
            return 0.0
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._stamp, self._seconds = None, 0.0
            return 0.0
        if stamp != self._stamp:
            try:
                self._seconds = max(0.0, float(self.path.read_text().strip() or 0)) / 1000
            except (OSError, ValueError):
                self._seconds = 0.0
            self._stamp = stamp
        return self._seconds


def writer_json(host: str | None, address: str = "", port: int = 0, nodes: list[dict] | None = None) -> str:
    """The HATESTBED_APP_CONFIG file's text: where this app sends writes ("primary"; null: to
    the first node of "nodes" that serves, Galera) and, for a server that runs no database node
    of its own, the nodes it uses in order ("nodes": [{"host", "address", "port"}, ...])."""
    primary = {"host": host, "address": address, "port": port} if host else None
    return json.dumps({"primary": primary, "nodes": nodes or []}, indent=2) + "\n"


def write_writer_file(path: Path, host: str, address: str, port: int) -> None:
    """Point an app's writes at `host`, atomically (a worker never reads half a file), keeping
    its nodes: the App daemon's set_primary() and the failover manager on promotion."""
    try:
        nodes = json.loads(path.read_text()).get("nodes", [])
    except (OSError, ValueError):
        nodes = []
    tmp = path.with_suffix(".tmp")
    tmp.write_text(writer_json(host, address, port, nodes))
    os.replace(tmp, path)


class Database:
    """The app's three database operations; a fresh connection per request (failover-friendly).

    With a local node (HATESTBED_DB_SOCKET set) reads and /health use it alone. Without one
    they use the first node of the config's "nodes" that answers and can serve (a Galera node:
    in the Primary component), starting with the one that served last in this worker.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._last_served: str | None = None

    def _config(self) -> dict:
        return json.loads(self.settings.config_path.read_text())

    def primary(self) -> dict | None:
        return self._config()["primary"]

    def _connect(self, **where):
        import pymysql

        s = self.settings
        return pymysql.connect(user=s.db_user, password=s.db_password, database=s.db_name,
                               autocommit=True, **where)

    @staticmethod
    def _check_ready(conn) -> None:
        """Raise unless this node can serve: it answers and, if it is a Galera node, it is in the
        cluster's Primary component (a node cut off from the majority still answers SELECT 1).
        Never waits for the cluster (wsrep_sync_wait 0 for the check, then the session's default
        again): a health check that blocks through a view change would take a healthy node out."""
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 0")
            cur.execute("SELECT @@wsrep_on, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                        " WHERE VARIABLE_NAME = 'WSREP_READY')")
            wsrep_on, ready = cur.fetchone()
            cur.execute("SET SESSION wsrep_sync_wait = DEFAULT")
        if int(wsrep_on) and ready != "ON":
            raise RuntimeError("this Galera node is not in the Primary component (wsrep_ready OFF)")

    def _serving(self):
        """(a connection to a database that can serve, the node's host name)."""
        if self.settings.db_socket:
            conn = self._connect(unix_socket=self.settings.db_socket, connect_timeout=1, read_timeout=2,
                                 write_timeout=2)
            try:
                self._check_ready(conn)
            except Exception:
                conn.close()
                raise
            return conn, self.settings.host
        nodes = sorted(self._config().get("nodes", []), key=lambda n: n["host"] != self._last_served)
        if not nodes:
            raise RuntimeError("this app has no local database and no nodes to use")
        errors = []
        for node in nodes:
            try:
                conn = self._connect(host=node["address"], port=int(node["port"]), connect_timeout=1,
                                     read_timeout=2, write_timeout=2)
            except Exception as exc:  # refused, timed out: try the next node
                errors.append(f"{node['host']}: {type(exc).__name__}: {exc}")
                continue
            try:
                self._check_ready(conn)
            except Exception as exc:
                conn.close()
                errors.append(f"{node['host']}: {exc}")
                continue
            self._last_served = node["host"]
            return conn, node["host"]
        raise RuntimeError("no database node can serve: " + "; ".join(errors))

    def ping(self) -> None:
        """The database this app reads from can serve (see _serving)."""
        conn, _host = self._serving()
        conn.close()

    def read(self) -> tuple[int, int]:
        """(row count, last id) of the copy this app reads (its own node's, or the route's)."""
        conn, _host = self._serving()
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {TABLE}")
            rows, last_id = cur.fetchone()
            return int(rows), int(last_id)

    def rows_from(self, first_id: int) -> list[tuple[int, str, str]]:
        """(id, written_by, payload) of every row with id >= `first_id` in the copy this app reads."""
        conn, _host = self._serving()
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, written_by, payload FROM {TABLE} WHERE id >= %s ORDER BY id", (first_id,))
            return [(int(i), w, p) for i, w, p in cur.fetchall()]

    def write(self, payload: str) -> tuple[int, str]:
        """Insert a row on the current primary (or, with none named, on the route's first node
        that serves); (new id, the host that took it)."""
        primary = self.primary()
        if primary is None:
            conn, host = self._serving()
        else:
            host = primary["host"]
            conn = self._connect(host=primary["address"], port=int(primary["port"]), connect_timeout=2,
                                 read_timeout=5, write_timeout=5)
        with conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} (written_by, payload) VALUES (%s, %s)",
                        (self.settings.host, payload[:255]))
            return int(cur.lastrowid), host


class WebApp:
    """The WSGI callable; `db` is anything with ping(), read() and write(payload) (tests use a stub)."""

    def __init__(self, host: str, db, slowdown: SlowDown | None = None):
        self.host = host
        self.db = db
        self.slowdown = slowdown or SlowDown(None)

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        routes = {"/": ("GET", self.index), "/health": ("GET", self.health),
                  "/read": ("GET", self.read), "/write": ("POST", self.write)}
        if path not in routes:
            status, body, ctype = HTTPStatus.NOT_FOUND, "not found\n", "text/plain"
        elif method != routes[path][0] and not (method == "HEAD" and routes[path][0] == "GET"):
            status, body, ctype = HTTPStatus.METHOD_NOT_ALLOWED, f"use {routes[path][0]}\n", "text/plain"
        else:
            try:
                status, body, ctype = routes[path][1](environ)
            except Exception as exc:  # the database is down or unreachable: say so, stay up
                status, ctype = HTTPStatus.SERVICE_UNAVAILABLE, "application/json"
                body = json.dumps({"server": self.host, "error": f"{type(exc).__name__}: {exc}"}) + "\n"
        data = body.encode()
        headers = [("Content-Type", ctype), ("Content-Length", str(len(data))), (SERVED_BY_HEADER, self.host)]
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.append(("Allow", routes[path][0]))
        start_response(f"{status.value} {status.phrase}", headers)
        return [b""] if method == "HEAD" else [data]

    def index(self, environ):
        delay = self.slowdown.seconds()
        if delay:
            time.sleep(delay)  # the worker stays busy: the agent reports less free capacity
        return HTTPStatus.OK, f"{self.host}\n", "text/plain"

    def health(self, environ):
        self.db.ping()
        return HTTPStatus.OK, "ok\n", "text/plain"

    def read(self, environ):
        rows, last_id = self.db.read()
        answer = {"server": self.host, "rows": rows, "last_id": last_id}
        first = parse_qs(environ.get("QUERY_STRING", "")).get("from")
        if first:  # ?from=<id>: the rows themselves, so a reader can check every write it expects
            try:
                first_id = int(first[0])
            except ValueError:
                return HTTPStatus.BAD_REQUEST, f"from must be a row id, got {first[0]!r}\n", "text/plain"
            answer["rows_from"] = [list(row) for row in self.db.rows_from(first_id)]
        return HTTPStatus.OK, _json(answer), "application/json"

    def write(self, environ):
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        except ValueError:
            length = 0
        payload = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
        new_id, primary = self.db.write(payload)
        return HTTPStatus.CREATED, _json({"server": self.host, "id": new_id, "primary": primary}), "application/json"


def _json(value: dict) -> str:
    return json.dumps(value) + "\n"


_app: WebApp | None = None


def application(environ, start_response):
    """gunicorn's entry point: built from the environment on first use (importing needs none)."""
    global _app
    if _app is None:
        settings = Settings.from_env()
        _app = WebApp(settings.host, Database(settings), SlowDown(settings.delay_file))
    return _app(environ, start_response)
