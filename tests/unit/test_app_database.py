"""The app's way to its database (hosts/webapp/app.py Database) without MariaDB: connections are
fakes that answer like a node that serves, refuses, or is cut off from the Galera majority."""

import json

import pytest

from hosts.webapp.app import Database, Settings, write_writer_file, writer_json


class FakeCursor:
    def __init__(self, node):
        self.node, self.result = node, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.node["statements"].append(sql)
        if "WSREP_READY" in sql:
            self.result = ("1", "ON" if self.node["ready"] else "OFF")
        elif sql.startswith("SELECT COUNT"):
            self.result = (7, 42)
        elif sql.startswith("INSERT"):
            self.lastrowid = 43

    def fetchone(self):
        return self.result


class FakeConnection:
    def __init__(self, node):
        self.node, self.closed = node, False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def cursor(self):
        return FakeCursor(self.node)

    def close(self):
        self.closed = True


@pytest.fixture
def nodes(tmp_path, monkeypatch):
    """server4's app without a local node; route server2, server3, server1, all serving."""
    fleet = {name: {"up": True, "ready": True, "statements": [], "address": f"10.0.2.{i}"}
             for i, name in enumerate(("server2", "server3", "server1"), start=2)}
    config = tmp_path / "app.json"
    config.write_text(writer_json(None, nodes=[{"host": h, "address": n["address"], "port": 3306}
                                               for h, n in fleet.items()]))
    settings = Settings(host="server4", db_socket="", db_name="hatestbed", db_user="app", db_password="x",
                        config_path=config)
    database = Database(settings)
    tried = []

    def connect(**where):
        host = next(h for h, n in fleet.items() if n["address"] == where.get("host"))
        tried.append(host)
        if not fleet[host]["up"]:
            raise OSError(f"connection refused by {host}")
        return FakeConnection(fleet[host])
    monkeypatch.setattr(database, "_connect", connect)
    return database, fleet, tried


def test_the_first_node_that_serves_takes_reads_and_writes(nodes):
    database, fleet, tried = nodes
    assert database.read() == (7, 42)
    assert database.write("hello") == (43, "server2")
    assert tried == ["server2", "server2"]
    # The readiness check never leaves the session without its causal reads.
    assert fleet["server2"]["statements"][2] == "SET SESSION wsrep_sync_wait = DEFAULT"


def test_a_dead_or_minority_node_is_passed_over_and_the_survivor_is_kept(nodes):
    database, fleet, tried = nodes
    fleet["server2"]["up"] = False
    fleet["server3"]["ready"] = False
    assert database.write("x") == (43, "server1")
    assert tried == ["server2", "server3", "server1"]
    tried.clear()
    database.ping()
    assert tried == ["server1"]  # the node that served last is asked first


def test_no_node_that_serves_is_an_error_naming_each(nodes):
    database, fleet, _ = nodes
    fleet["server2"]["up"] = fleet["server1"]["up"] = False
    fleet["server3"]["ready"] = False
    with pytest.raises(RuntimeError) as info:
        database.ping()
    message = str(info.value)
    assert message.startswith("no database node can serve: server2: OSError")
    assert "server3: this Galera node is not in the Primary component" in message and "server1:" in message


def test_a_named_primary_takes_the_writes_and_a_promotion_keeps_the_nodes(nodes, tmp_path):
    database, fleet, tried = nodes
    config = database.settings.config_path
    write_writer_file(config, "server3", fleet["server3"]["address"], 3306)
    assert [n["host"] for n in json.loads(config.read_text())["nodes"]] == ["server2", "server3", "server1"]
    assert database.write("x") == (43, "server3")
    assert tried == ["server3"]
