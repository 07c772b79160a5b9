"""The server tier without root: MariaDB, gunicorn and nginx configs rendered from the default
model, the run's TLS, the idle-capacity agent, and the WSGI app's routing with a stub database."""

import io
import ipaddress
import json
import os
import re
import socket
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from hosts.app import App
from hosts.mariadb import MariaDB, bootstrap_sql
from hosts.nginx import Nginx
from hosts.site import DB_USERS, SERVED_BY_HEADER, Site
from hosts.tls import create_site_tls
from hosts.webapp.app import Settings, WebApp
from hosts.webapp.capacity import Agent, BusyBoard, agent_reply
from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology
from topo.plan import plan_network

RUN = Path("/tmp/x")


@pytest.fixture(scope="module")
def site():
    return Site(plan_network(load_topology()), RUN)


def cnf(site, host) -> dict[str, str]:
    """my.cnf as {option: value} ("" for a bare flag)."""
    text = MariaDB(site, host).files()[MariaDB(site, host).cnf]
    options = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("["):
            key, _, value = line.partition("=")
            options[key.strip()] = value.strip()
    return options


# -- a database tier smaller than the servers ------------------------------------------------------
@pytest.fixture(scope="module")
def five_servers_three_nodes() -> Site:
    from topo.scale import scaled_topology
    return Site(plan_network(scaled_topology(load_topology(), active_servers=4, clients=2)), RUN)


def test_only_the_nodes_run_mariadb_and_its_exporter_and_the_cluster_lists_them(five_servers_three_nodes):
    from hosts.roles import daemons_for
    site = five_servers_three_nodes
    assert site.db_nodes == ["server1", "server2", "server3"]
    running = {(d.name, d.host) for d in daemons_for(site)}
    for server in site.servers:
        wanted = server in site.db_nodes
        assert (("mariadb", server) in running) == wanted and (("mysqld_exporter", server) in running) == wanted
        assert ("app", server) in running and ("nginx", server) in running
    members = cnf(site, "server1")["wsrep_cluster_address"].removeprefix("gcomm://").split(",")
    assert [m.rsplit(":", 1)[0] for m in members] == [site.backend_ip(s) for s in site.db_nodes]
    assert sorted(cnf(site, s)["server_id"] for s in site.db_nodes) == ["1", "2", "3"]


def test_a_nodeless_app_uses_every_node_its_own_switch_first(five_servers_three_nodes):
    site = five_servers_three_nodes
    switch = {s: site.plan.host_interfaces(s)[0].switch for s in site.servers}
    for server in ("server4", "server5"):
        route = site.db_route(server)
        assert sorted(route) == site.db_nodes
        same = [n for n in route if switch[n] == switch[server]]
        assert route[:len(same)] == same, route  # the nodes on its own switch come first
        assert site.db_writer(server) is None  # Galera: the route's first node that serves
        app = App(site, server)
        files = app.files()
        config = json.loads(files[app.primary_file])
        assert config["primary"] is None
        assert [n["host"] for n in config["nodes"]] == route
        assert "'HATESTBED_DB_SOCKET='" in files[app.config_path]
    assert site.db_route("server4")[0] != site.db_route("server5")[0]  # spread over the nodes
    assert site.db_route("server1") == ["server1"] and site.db_writer("server1") == "server1"


def test_the_replication_modes_write_to_the_primary_from_every_server():
    from topo.scale import scaled_topology
    topology = scaled_topology(load_topology(), active_servers=4, clients=2)
    mariadb = topology.services.mariadb.model_copy(update={"mode": "async"})
    site = Site(plan_network(topology.model_copy(update={"services": topology.services.model_copy(
        update={"mariadb": mariadb})})), RUN)
    app = App(site, "server4")
    config = json.loads(app.files()[app.primary_file])
    assert config["primary"]["host"] == "server1" and len(config["nodes"]) == 3


# -- MariaDB ---------------------------------------------------------------------------------------
def test_server_ids_are_unique_and_paths_per_host(site):
    configs = [cnf(site, s) for s in site.servers]
    assert len({c["server_id"] for c in configs}) == len(site.servers)
    for key in ("datadir", "socket", "pid-file"):
        assert len({c[key] for c in configs}) == len(site.servers), key
    assert all(c[key].startswith(str(RUN)) for c in configs for key in ("datadir", "socket", "pid-file"))


def site_with(**mariadb) -> Site:
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"mariadb": mariadb}
    return Site(plan_network(parse_topology(data)), RUN)


def test_galera_is_the_default_mode(site):
    assert site.db_mode == "galera"


def test_every_mode_binds_the_service_address_and_uses_the_model_buffer_pool():
    for mode in ("galera", "semisync", "async"):
        site = site_with(mode=mode, buffer_pool_mb=16)
        for server in site.servers:
            options = cnf(site, server)
            assert options["bind-address"] == site.backend_ip(server)
            assert options["port"] == "3306" and "skip-name-resolve" in options
            assert options["innodb_buffer_pool_size"] == "16M" and options["binlog_format"] == "ROW"


@pytest.mark.parametrize("mode", ["semisync", "async"])
def test_replication_modes_only_replicas_are_read_only_and_every_server_logs_binlog(mode):
    site = site_with(mode=mode)
    assert site.primary_db == "server1"
    for server in site.servers:
        options = cnf(site, server)
        assert ("read_only" in options) == (server != site.primary_db)
        assert options["log_bin"] and options["log_slave_updates"] == "ON"
        assert "wsrep_on" not in options
        assert site.db_writer(server) == "server1"


def test_semisync_waits_after_sync_with_the_durability_it_relies_on():
    site = site_with(mode="semisync", semisync_timeout_ms=1500)
    options = cnf(site, "server2")
    assert options["rpl_semi_sync_master_enabled"] == "OFF" and options["rpl_semi_sync_slave_enabled"] == "ON"
    assert cnf(site, "server1")["rpl_semi_sync_master_enabled"] == "ON"  # only the primary waits
    assert options["rpl_semi_sync_master_wait_point"] == "AFTER_SYNC"
    assert options["rpl_semi_sync_master_timeout"] == "1500"
    assert options["sync_binlog"] == options["innodb_flush_log_at_trx_commit"] == options["sync_relay_log"] == "1"
    assert not any(key.startswith("rpl_semi_sync") for key in cnf(site_with(mode="async"), "server2"))


def test_galera_every_node_writable_lists_every_member_and_uses_fast_eviction_timers(site):
    members = {f"{site.backend_ip(s)}:4567" for s in site.servers}
    for server in site.servers:
        options = cnf(site, server)
        assert options["wsrep_on"] == "ON" and options["wsrep_provider"].endswith("libgalera_smm.so")
        assert set(options["wsrep_cluster_address"].removeprefix("gcomm://").split(",")) == members
        assert options["wsrep_node_address"] == f"{site.backend_ip(server)}:4567"
        assert options["wsrep_sst_method"] == "rsync_root" and options["wsrep_sync_wait"] == "1"
        assert options["innodb_autoinc_lock_mode"] == "2"
        assert "read_only" not in options and "log_bin" not in options
        provider = dict(o.strip().split("=", 1) for o in options["wsrep_provider_options"].strip('"').split(";"))
        assert provider["evs.suspect_timeout"] == "PT0.8S" and provider["evs.keepalive_period"] == "PT0.2S"
        assert provider["gmcast.listen_addr"] == f"tcp://{site.backend_ip(server)}:4567"
        assert site.db_writer(server) == server  # each app writes to its own node


def test_galera_only_the_bootstrap_node_founds_the_cluster_and_joiners_start_after_it(tmp_path):
    site = Site(plan_network(load_topology()), tmp_path)
    nodes = {s: MariaDB(site, s) for s in site.servers}
    for node in nodes.values():
        node.prepare = lambda n, node=node: setattr(node, "new_cluster", node.is_primary and not node.datadir.exists())
        node.prepare(None)
    assert "--wsrep-new-cluster" in nodes["server1"].command()
    assert all("--wsrep-new-cluster" not in nodes[s].command() for s in ("server2", "server3"))
    assert nodes["server1"].stage < nodes["server2"].stage < nodes["server3"].stage < 2  # one joiner at a time
    assert "--wsrep-new-cluster" not in MariaDB(site_with(mode="async"), "server1").command()


def test_galera_joiners_each_have_a_stage_before_the_apps_however_many_there_are(tmp_path):
    from topo.scale import scaled_topology

    for active in (2, 47, 80):
        site = Site(plan_network(scaled_topology(load_topology(), active, 2, db_nodes=active + 1)), tmp_path)
        stages = [MariaDB(site, s).stage for s in site.db_nodes]
        assert stages[0] == 1 and len(set(stages)) == len(stages) and max(stages) < 2
        assert stages[1:] == sorted(stages[1:])


def test_galera_notify_script_writes_one_json_line_per_change(tmp_path):
    site = Site(plan_network(load_topology()), tmp_path)
    db = MariaDB(site, "server2")
    script = tmp_path / "notify.sh"
    script.write_text(db.files()[db.notify])
    site.galera_events.parent.mkdir(parents=True)
    import subprocess
    subprocess.run(["sh", str(script), "--status", "Synced", "--uuid", "u", "--primary", "yes", "--members",
                    "a1/server1/10.0.2.12:3306,b2/server2/10.0.2.13:3306", "--index", "1"], check=True)
    event = json.loads(site.galera_events.read_text())
    assert event["host"] == "server2" and event["status"] == "Synced" and event["primary"] == "yes"
    assert event["members"] == ["server1", "server2"] and event["t"] > 1.7e9


def test_app_json_names_the_writer_per_mode(site):
    def writer(site, host):
        app = App(site, host)
        return json.loads(app.files()[app.primary_file])["primary"]["host"]
    assert writer(site, "server2") == "server2"
    assert writer(site_with(mode="semisync"), "server2") == "server1"


def test_primary_follows_the_model():
    other = site_with(mode="async", primary="server2", buffer_pool_mb=16)
    assert "read_only" not in cnf(other, "server2") and "read_only" in cnf(other, "server1")
    assert cnf(other, "server3")["innodb_buffer_pool_size"] == "16M"


def test_bootstrap_accounts_and_grants(site):
    sql = bootstrap_sql(site)
    network = "'10.0.2.0/255.255.255.0'"
    assert f"GRANT SELECT, INSERT, UPDATE ON hatestbed.* TO 'app'@{network};" in sql
    assert f"GRANT REPLICATION SLAVE ON *.* TO 'repl'@{network};" in sql
    assert "TO 'exporter'@'localhost'" in sql and f"'exporter'@{network}" not in sql
    assert DB_USERS["repl"] in sql
    assert "CREATE TABLE entries" in sql


def test_mariadb_status_texts(site):
    db = MariaDB(site_with(mode="async"), "server2")
    answers = {
        "SELECT @@read_only": [{"read_only": "1", "gtid_current_pos": "0-1-5", "gtid_slave_pos": "0-1-5",
                                "gtid_binlog_pos": "0-1-5", "replicas_connected": "0"}],
        "SHOW SLAVE STATUS": [{"Master_Host": "10.0.2.12", "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes",
                               "Seconds_Behind_Master": "0", "Last_IO_Error": "", "Last_SQL_Error": "",
                               "Gtid_IO_Pos": "0-1-5"}],
    }
    db.sql = lambda node, statement, timeout=10: next(v for k, v in answers.items() if statement.startswith(k))
    assert db.status(None) == "replica of server1, IO/SQL running, lag 0s"
    answers["SHOW SLAVE STATUS"][0].update(Slave_IO_Running="Connecting", Seconds_Behind_Master="NULL")
    assert db.status(None) == "replica of server1, IO connecting, SQL running, lag unknown"
    answers["SHOW SLAVE STATUS"] = []
    answers["SELECT @@read_only"][0].update(read_only="0", replicas_connected="2")
    assert db.status(None) == "primary, 2 replicas connected"


def test_semisync_fallback_shows_in_status():
    db = MariaDB(site_with(mode="semisync"), "server1")
    answers = {
        "SELECT @@read_only": [{"read_only": "0", "gtid_current_pos": "0-1-5", "gtid_slave_pos": "",
                                "gtid_binlog_pos": "0-1-5", "replicas_connected": "2"}],
        "SHOW SLAVE STATUS": [],
        "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'": [{"Variable_name": "x", "Value": "ON"}],
    }
    db.sql = lambda node, statement, timeout=10: next(v for k, v in answers.items() if statement.startswith(k))
    assert db.status(None) == "primary, 2 replicas connected, semisync ON"
    answers["SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'"][0]["Value"] = "OFF"
    assert db.status(None).endswith("semisync OFF: FELL BACK TO ASYNC")


def test_galera_status_text(site):
    db = MariaDB(site, "server1")
    rows = [{"Variable_name": k, "Value": v} for k, v in {
        "wsrep_ready": "ON", "wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary",
        "wsrep_cluster_size": "3", "wsrep_incoming_addresses": "10.0.2.12:3306,10.0.2.13:3306,10.0.2.14:3306"}.items()]
    db.sql = lambda node, statement, timeout=10: rows
    assert db.status(None) == "galera Synced, ready, Primary component of 3"
    assert db.galera_state(None)["members"] == ["server1", "server2", "server3"]
    rows[0]["Value"], rows[2]["Value"], rows[3]["Value"] = "OFF", "non-Primary", "1"
    assert db.status(None) == "galera Synced, NOT ready for queries, non-Primary component of 1"


# -- gunicorn --------------------------------------------------------------------------------------
def gunicorn_settings(site, host) -> dict:
    app = App(site, host)
    namespace = {}
    exec(compile(app.files()[app.config_path], "gunicorn.conf.py", "exec"), namespace)
    return namespace


def test_gunicorn_config_is_python_with_the_model_settings(site):
    settings = gunicorn_settings(site, "server2")
    assert settings["bind"] == ["127.0.0.1:8000"]
    assert settings["workers"] == site.services.app.workers == 6
    assert settings["worker_class"] == "sync"
    assert settings["wsgi_app"] == "hosts.webapp.app:application"
    assert settings["pidfile"] == str(site.pidfile("server2", "app"))
    env = dict(item.split("=", 1) for item in settings["raw_env"])
    assert env["HATESTBED_HOST"] == "server2"
    assert env["HATESTBED_DB_SOCKET"] == str(site.sock("server2", "mariadb"))
    assert Settings.from_env(env).config_path == App(site, "server2").primary_file
    for hook in ("when_ready", "pre_fork", "post_fork", "pre_request", "post_request", "child_exit"):
        assert callable(settings[hook])
    text = App(site, "server2").files()[App(site, "server2").config_path]
    assert "agent.start('10.0.2.13', 9999)" in text


def test_hooks_count_requests_but_not_health_checks(site):
    settings = gunicorn_settings(site, "server1")
    board = settings["board"]

    class Worker:
        slot = 2

    class Request:
        path = "/read"

    settings["pre_request"](Worker, Request)
    assert board.busy() == 1
    settings["post_request"](Worker, Request, {}, None)
    assert board.busy() == 0
    Request.path = "/health"
    settings["pre_request"](Worker, Request)
    assert board.busy() == 0


def test_worker_count_follows_the_model():
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"app": {"workers": 7}}
    other = Site(plan_network(parse_topology(data)), RUN)
    assert gunicorn_settings(other, "server1")["workers"] == 7


def test_primary_file_and_set_primary(tmp_path):
    data = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    data["services"] = {"mariadb": {"mode": "async"}}
    other = Site(plan_network(parse_topology(data)), tmp_path)
    app = App(other, "server3")
    app.primary_file.parent.mkdir(parents=True)
    app.primary_file.write_text(app.files()[app.primary_file])
    assert json.loads(app.primary_file.read_text())["primary"] == {"host": "server1", "address": "10.0.2.12", "port": 3306}
    app.set_primary("server2")
    assert json.loads(app.primary_file.read_text())["primary"]["address"] == "10.0.2.13"
    assert list(app.primary_file.parent.iterdir()) == [app.primary_file]


def test_app_program_is_found_by_preflight():
    import shutil
    assert shutil.which(App.binary) == sys.executable


# -- nginx -----------------------------------------------------------------------------------------
def test_nginx_tls_upstream_and_per_host_paths(site):
    temp_paths = set()
    for server in site.servers:
        nginx = Nginx(site, server)
        text = nginx.files()[nginx.config_path]
        assert "daemon off;" in text and "master_process on;" in text
        assert f"listen {site.backend_ip(server)}:443 ssl;" in text
        assert f"ssl_certificate {site.tls_cert(server)};" in text
        assert f"ssl_certificate_key {site.tls_key(server)};" in text
        assert "server 127.0.0.1:8000;" in text and "proxy_pass http://app;" in text
        assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
        assert f"pid {site.pidfile(server, 'nginx')};" in text
        temps = re.findall(r"^\s*(\w+_temp_path) (\S+);", text, re.M)
        assert {name for name, _ in temps} == {f"{k}_temp_path" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        assert all(path.startswith(str(nginx.temp_dir)) for _, path in temps)
        temp_paths |= {path for _, path in temps}
        assert nginx.check_command()[-2:] == ["-t", "-q"] and str(nginx.config_path) in nginx.check_command()
    assert len(temp_paths) == 5 * len(site.servers)


def test_nginx_keeps_two_app_workers_free_of_waiting_reads_and_writes(site):
    """A bulkhead: /write and /read together are limited to 4 of the 6 workers; `/` and /health
    are not, and a slot is freed as soon as its answer is sent (no lingering close)."""
    nginx = Nginx(site, "server2")
    text = nginx.files()[nginx.config_path]
    assert site.services.app.workers == 6 and nginx.database_slots() == 4
    assert "limit_conn_zone $server_addr zone=database:1m;" in text and "limit_conn_status 503;" in text
    for path in ("/write", "/read"):
        location = re.search(rf"location = {path} \{{([^}}]*)\}}", text).group(1)
        assert "limit_conn database 4;" in location and "proxy_pass http://app;" in location
        assert "lingering_close off;" in location
    assert text.count("limit_conn database ") == 2
    root = re.search(r"location / \{([^}]*)\}", text).group(1)
    assert "limit_conn" not in root


def test_nginx_readiness_verifies_with_the_ca(site):
    args = Nginx(site, "server1").curl_args()
    assert "-k" not in args and "--insecure" not in args
    assert args == ["--cacert", str(site.tls_ca), "--resolve", "www.hatestbed.test:443:10.0.2.12"]


# -- TLS -------------------------------------------------------------------------------------------
def test_certificates_carry_the_sans_and_verify_against_the_ca(tmp_path):
    site = Site(plan_network(load_topology()), tmp_path)
    create_site_tls(site)
    ca = x509.load_pem_x509_certificate(site.tls_ca.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for server in site.servers:
        cert = x509.load_pem_x509_certificate(site.tls_cert(server).read_bytes())
        cert.verify_directly_issued_by(ca)  # raises if not signed by the run's CA
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(sans.get_values_for_type(x509.DNSName)) == {"www.hatestbed.test", server}
        assert set(sans.get_values_for_type(x509.IPAddress)) == {
            ipaddress.ip_address(site.vip), ipaddress.ip_address(site.backend_ip(server))}
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert site.tls_key(server).stat().st_mode & 0o777 == 0o600
    assert (site.tls_dir / "ca.key").stat().st_mode & 0o777 == 0o600


# -- idle-capacity agent ---------------------------------------------------------------------------
def test_agent_reply_is_the_share_of_free_workers_never_zero():
    assert agent_reply(0, 4) == "100%\n"
    assert agent_reply(1, 4) == "75%\n"
    assert agent_reply(3, 4) == "25%\n"
    assert agent_reply(4, 4) == "1%\n"
    assert agent_reply(2, 3) == "33%\n"


def test_busy_board_is_shared_across_fork_and_slots_are_reused():
    board = BusyBoard()
    pid = os.fork()
    if pid == 0:  # the "worker"
        board.set(3, True)
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.busy() == 1
    board.set(3, False)
    assert board.busy() == 0
    assert BusyBoard.free_slot({0, 1, 3}) == 2


def test_the_agent_answers_the_mean_over_its_window():
    board = BusyBoard()
    agent = Agent(board, workers=4, window_s=0.04, sample_s=0.01)  # four samples
    assert agent.busy() == 0  # no sample yet: the board now
    for busy in (4, 4, 0, 0):  # all busy half the window, all free the other half
        for slot in range(4):
            board.set(slot, slot < busy)
        agent.sample()
    assert agent.busy() == 2.0 and agent_reply(agent.busy(), 4) == "50%\n"
    agent.sample()  # the oldest (4) drops out of the window
    assert agent.busy() == 1.0


def test_agent_answers_over_tcp():
    board = BusyBoard()
    agent = Agent(board, workers=4, window_s=0)  # the instantaneous count
    agent.start("127.0.0.1", 0)
    port = agent.sock.getsockname()[1]
    board.set(0, True)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        assert conn.recv(16) == b"75%\n"
    agent.sock.close()


# -- the WSGI app ----------------------------------------------------------------------------------
class StubDB:
    def __init__(self, up=True):
        self.up = up
        self.written = []

    def ping(self):
        if not self.up:
            raise ConnectionError("local database down")

    def read(self):
        self.ping()
        return 3, 42

    def write(self, payload):
        self.ping()
        self.written.append(payload)
        return 43, "server1"

    def rows_from(self, first_id):
        self.ping()
        return [(i, "server1", f"w{i}") for i in (41, 42) if i >= first_id]


def call(app, method, path, body=b""):
    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    data = b"".join(app(environ, start_response))
    return int(seen["status"].split()[0]), seen["headers"], data.decode()


def test_routes_and_the_served_by_header():
    db = StubDB()
    app = WebApp("server2", db)
    status, headers, body = call(app, "GET", "/health")
    assert (status, body) == (200, "ok\n") and headers[SERVED_BY_HEADER] == "server2"
    status, _, body = call(app, "GET", "/read")
    assert status == 200 and json.loads(body) == {"server": "server2", "rows": 3, "last_id": 42}
    status, _, body = call(app, "POST", "/write", b"hello")
    assert status == 201 and json.loads(body) == {"server": "server2", "id": 43, "primary": "server1"}
    assert db.written == ["hello"]
    assert call(app, "GET", "/")[2] == "server2\n"
    status, headers, _ = call(app, "GET", "/write")
    assert status == 405 and headers["Allow"] == "POST" and headers[SERVED_BY_HEADER] == "server2"
    status, headers, _ = call(app, "GET", "/nope")
    assert status == 404 and headers[SERVED_BY_HEADER] == "server2"


def test_a_read_from_an_id_returns_the_rows_themselves():
    app = WebApp("server2", StubDB())
    status, _, body = call(app, "GET", "/read?from=42")
    assert status == 200 and json.loads(body)["rows_from"] == [[42, "server1", "w42"]]
    assert json.loads(call(app, "GET", "/read?from=1")[2])["rows_from"] == [[41, "server1", "w41"], [42, "server1", "w42"]]
    status, _, body = call(app, "GET", "/read?from=x")
    assert status == 400 and "from must be a row id" in body


def test_database_down_is_503_not_a_crash():
    app = WebApp("server1", StubDB(up=False))
    for method, path in (("GET", "/health"), ("GET", "/read"), ("POST", "/write")):
        status, headers, body = call(app, method, path)
        assert status == 503 and headers[SERVED_BY_HEADER] == "server1"
        assert "local database down" in json.loads(body)["error"]
    assert call(app, "GET", "/")[0] == 200  # no database needed


def test_settings_name_the_missing_variable():
    with pytest.raises(RuntimeError, match="HATESTBED_DB_SOCKET"):
        Settings.from_env({"HATESTBED_HOST": "server1"})


def test_galera_a_start_that_never_reached_the_group_gets_its_saved_view_back_for_the_retry(tmp_path):
    """before_retry: the view Galera deleted on an aborted start comes back from the copy made
    before it; a start that reached the group (another failure) is left as Galera left it."""
    site = Site(plan_network(load_topology()), tmp_path)
    db = MariaDB(site, "server2")
    db.datadir.mkdir(parents=True)
    (db.datadir / "grastate.dat").write_text("seqno:   7\n")
    view = db.datadir / "gvwstate.dat"
    view.write_text("my_uuid: c059eff0\n#vwbeg\n")
    db.prepare(None)  # a restart after a crash: the datadir is there
    db.log_path.parent.mkdir(parents=True, exist_ok=True)
    earlier = "2026-12-05  7:52:07 0 [Note] Starting MariaDB 10.11\n[ERROR] WSREP: failed to open gcomm backend connection\n"
    db.log_path.write_text(earlier + "2026-12-05  7:52:24 0 [Note] Starting MariaDB 10.11\nWSREP: bogus GTID\n")
    view.unlink()
    db.before_retry(None)
    assert not view.exists()  # the last start reached the group: its failure is another one
    with open(db.log_path, "a") as log:
        log.write("2026-12-05  7:52:25 0 [Note] Starting MariaDB 10.11\n[ERROR] WSREP: failed to open gcomm "
                  "backend connection: 131: Trying to add self addr tcp://10.0.2.13:4567 to addr list (FATAL)\n")
    db.before_retry(None)
    assert view.read_text() == "my_uuid: c059eff0\n#vwbeg\n"
    view.unlink()
    db.prepare(None)  # a start with no saved view forgets the copy: nothing stale comes back later
    db.before_retry(None)
    assert not view.exists()
