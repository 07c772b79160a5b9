"""The Jepsen-style write checks (experiments/database.py) on recorded requests and stub nodes:
no node read is an error, a reused id with another payload is a lost write, every acknowledged
write must be in a read, and a write whose outcome is unknown is neither lost nor served."""

import json
import time
import types

import pytest

from experiments import database as db
from experiments.base import ExperimentError, Journal
from experiments.probe_client import write_payload
from experiments.probes import Request

LABEL = "db-failover-tuned-0"


def requests():
    """seq 0-2 acked by server1 (ids 1-3), seq 3 timed out reading (unknown), seq 4 refused."""
    rows = [Request(i, 10 + i, 10.01 + i, 201, "", "server1", str(i + 1)) for i in range(3)]
    rows.append(Request(3, 13, 18, 0, "read_timeout"))
    rows.append(Request(4, 14, 14.01, 0, "connect_refused"))
    return rows


def stored(seqs_ids, writer="server1"):
    return {(i, writer, write_payload(LABEL, seq)) for seq, i in seqs_ids}


def experiment(copies: dict, monkeypatch, reads=None, idle=False):
    monkeypatch.setattr(db, "stored_rows", lambda _e, server: copies[server])
    monkeypatch.setattr(db, "replication_idle", lambda _e, _servers: idle)
    if reads is not None:
        answers = iter(reads)
        monkeypatch.setattr(db, "https_request", lambda *_a, **_k: next(answers))
    site = types.SimpleNamespace(db_nodes=list(copies), clients=["client1"])
    return types.SimpleNamespace(site=site, testbed=types.SimpleNamespace(net={"client1": None}),
                                 journal=Journal())


def test_writes_are_acked_unknown_or_failed_by_what_the_client_saw():
    log = db.write_log(requests(), LABEL)
    assert set(log.acked) == stored([(0, 1), (1, 2), (2, 3)])
    assert log.unknown == {write_payload(LABEL, 3)}  # the refused one is simply failed


def test_no_write_acknowledged_is_an_error_not_zero_lost():
    with pytest.raises(ExperimentError, match="none acknowledged"):
        db.write_log(requests()[3:], LABEL)


def test_a_surviving_node_that_never_answers_is_an_error(monkeypatch):
    e = experiment({"server2": stored([(0, 1), (1, 2), (2, 3)]), "server3": None}, monkeypatch)
    with pytest.raises(ExperimentError, match="server3 did not answer"):
        db.read_survivors(e, db.write_log(requests(), LABEL), settle=0.3)


def test_a_reused_id_with_another_payload_is_a_lost_write(monkeypatch):
    # server2's copy has id 3 from server1, but written by another request (a second primary's).
    copy = stored([(0, 1), (1, 2)]) | {(3, "server1", "another primary's row")}
    e = experiment({"server2": copy, "server1": None}, monkeypatch)
    monkeypatch.setattr(db, "SETTLE_S", 0.3)
    lost = db.losses(e, db.write_log(requests(), LABEL), down={"server1"})
    assert lost["acked_writes_lost"] == 1 and lost["lost_ids"] == {"server2": [3]}
    assert lost["nodes_read"] == ["server2"]


def test_unknown_writes_found_are_counted_apart_and_phantoms_named(monkeypatch):
    copy = stored([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])  # seq 3 (unknown) landed; seq 4 (refused) too
    e = experiment({"server2": copy}, monkeypatch)
    lost = db.losses(e, db.write_log(requests(), LABEL))
    assert lost["acked_writes_lost"] == 0 and lost["unknown_writes"] == 1 and lost["unknown_writes_stored"] == 1
    assert lost["phantom_rows"] == 1  # a refused write must not be stored


def test_a_read_missing_any_acknowledged_write_is_stale_not_only_the_highest(monkeypatch):
    def answer(rows):
        body = json.dumps({"rows_from": [list(r) for r in rows]})
        return types.SimpleNamespace(ok=True, body=body, served_by="server2", error="", status=200)

    everything = sorted(stored([(0, 1), (1, 2), (2, 3)]))
    hole = [r for r in everything if r[0] != 2]  # id 3 is there (the MAX), id 2 is not
    e = experiment({"server2": set()}, monkeypatch, reads=[answer(everything), answer(hole)])
    reads = db.read_your_writes(e, db.write_log(requests(), LABEL), reads=2)
    assert reads["stale_reads"] == 1 and reads["stale"][0]["missing_ids"] == [2]


def test_reads_that_all_fail_saw_nothing_and_are_an_error(monkeypatch):
    failed = types.SimpleNamespace(ok=False, body="", served_by="", error="connect_timeout", status=0)
    e = experiment({"server2": set()}, monkeypatch, reads=[failed] * 3)
    with pytest.raises(ExperimentError, match="none of 3 reads"):
        db.read_your_writes(e, db.write_log(requests(), LABEL), reads=3)


def test_a_missing_write_waits_out_the_settle_while_replication_may_still_deliver_it(monkeypatch):
    copy = stored([(0, 1), (1, 2)])  # id 3 missing
    e = experiment({"server2": copy}, monkeypatch)
    began = time.monotonic()
    lost = db.losses(e, db.write_log(requests(), LABEL), copies=db.read_survivors(
        e, db.write_log(requests(), LABEL), settle=0.6))
    assert time.monotonic() - began >= 0.6 and lost["acked_writes_lost"] == 1
    assert e.journal.steps[-1].detail == {"ended_by": "settle timeout", "settle_s": 0.6}


def test_idle_replication_ends_the_wait_and_what_is_missing_is_lost(monkeypatch):
    e = experiment({"server2": stored([(0, 1), (1, 2)]), "server3": stored([(0, 1)])}, monkeypatch, idle=True)
    began = time.monotonic()
    copies = db.read_survivors(e, db.write_log(requests(), LABEL), settle=30)
    assert time.monotonic() - began < 5
    assert db.losses(e, db.write_log(requests(), LABEL), copies=copies)["lost_ids"] == {"server2": [3],
                                                                                       "server3": [2, 3]}
    assert e.journal.steps[-1].detail["ended_by"] == "replication idle"


def test_idle_replication_does_not_end_the_wait_for_a_node_that_did_not_answer(monkeypatch):
    e = experiment({"server2": stored([(0, 1)]), "server3": None}, monkeypatch, idle=True)
    with pytest.raises(ExperimentError, match="server3 did not answer"):
        db.read_survivors(e, db.write_log(requests(), LABEL), settle=0.3)


def replica(master, current, io="Yes", sql="Yes"):
    return {"role": "replica", "master": master, "io_running": io, "sql_running": sql,
            "gtid_current_pos": current, "gtid_binlog_pos": current}


def primary(logged, role="primary"):
    return {"role": role, "gtid_current_pos": logged, "gtid_binlog_pos": logged}


@pytest.mark.parametrize("states, idle", [
    ({"server2": primary("0-2-130"), "server3": replica("server2", "0-2-130")}, True),
    # an old primary fenced read-only after a partition: nothing feeds it
    ({"server1": primary("0-1-90", "read-only standalone"), "server2": primary("0-2-130"),
      "server3": replica("server2", "0-2-130")}, True),
    ({"server2": primary("0-2-130"), "server3": replica("server2", "0-2-129")}, False),  # still applying
    ({"server2": primary("0-2-130,1-2-4"), "server3": replica("server2", "0-2-130")}, False),  # a domain behind
    ({"server2": primary("0-2-130"), "server3": replica("server2", "0-2-130", io="Connecting")}, False),
    ({"server2": primary("0-2-130"), "server3": replica("server1", "0-1-90")}, False),  # its source is not read
    ({"server2": primary("0-2-130"), "server3": None}, False),  # not answering
])
def test_replication_is_idle_only_when_every_replica_has_applied_its_sources_log(states, idle):
    class MariaDB:
        def __init__(self, server):
            self.server = server

        def replication_state(self, _node):
            if states[self.server] is None:
                raise RuntimeError("no answer")
            return states[self.server]

    site = types.SimpleNamespace(db_mode="async")
    testbed = types.SimpleNamespace(services=types.SimpleNamespace(find=lambda server, _name: MariaDB(server)),
                                    net={s: None for s in states})
    e = types.SimpleNamespace(site=site, testbed=testbed)
    assert db.replication_idle(e, list(states)) is idle
    site.db_mode = "galera"  # Galera: the rows alone tell
    assert db.replication_idle(e, list(states)) is False
