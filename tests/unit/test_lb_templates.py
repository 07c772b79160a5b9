"""The load-balancer tier rendered from the default model: HAProxy and keepalived (no root).

The rendered shell scripts are also run here against fake processes: the track script must find
this host's HAProxy by pid (dead, zombie, recycled pid), the notify script must write JSON lines.
"""

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from hosts.haproxy import BACKEND, HAProxy, parse_check_failures, parse_state_changes
from hosts.keepalived import Keepalived
from hosts.site import Site
from hosts.tls import create_site_tls
from topo.model import DEFAULT_TOPOLOGY, load_topology, parse_topology
from topo.plan import plan_network

DEFAULT = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


@pytest.fixture(scope="module")
def site():
    return Site(plan_network(load_topology()), Path("/tmp/x"))


def site_with(services: dict, run_path=Path("/tmp/x")) -> Site:
    data = copy.deepcopy(DEFAULT)
    data["services"] = services
    return Site(plan_network(parse_topology(data)), run_path)


def haproxy_cfg(site, host="lb1") -> str:
    daemon = HAProxy(site, host)
    return daemon.files()[daemon.config_path]


def section(cfg: str, header: str) -> list[str]:
    """The stripped lines of one `frontend x` / `backend x` section."""
    lines = cfg.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        if line.strip() and not line.strip().startswith("#"):
            body.append(line.strip())
    return body


# -- HAProxy ----------------------------------------------------------------------------------------
def test_backend_round_robin_over_actives_with_the_backup_flagged(site):
    backend = section(haproxy_cfg(site), f"backend {BACKEND}")
    assert "balance roundrobin" in backend
    assert "mode tcp" in backend
    servers = [line for line in backend if line.startswith("server ")]
    assert servers == ["server server1 10.0.2.12:443",
                       "server server2 10.0.2.13:443",
                       "server server3 10.0.2.14:443 backup"]


def test_tls_passthrough_on_the_vip_and_http_only_redirects(site):
    cfg = haproxy_cfg(site)
    https = section(cfg, "frontend https_in")
    assert "bind 10.0.1.100:443" in https and "mode tcp" in https
    http = section(cfg, "frontend http_in")
    assert "bind 10.0.1.100:80" in http and "mode http" in http
    assert any(line.startswith("http-request redirect scheme https") for line in http)
    assert not any("backend" in line for line in http)  # nothing plaintext reaches a server
    # Passthrough: no TLS termination anywhere, no `ssl` on server lines (only check-ssl).
    assert " ssl crt " not in cfg
    assert not any(" ssl " in f" {line} " for line in section(cfg, f"backend {BACKEND}"))


def test_health_checks_are_tls_verified_against_the_run_ca_with_the_model_timers(site):
    backend = section(haproxy_cfg(site), f"backend {BACKEND}")
    assert "option httpchk" in backend
    assert "http-check send meth GET uri /health ver HTTP/1.1 hdr Host www.hatestbed.test" in backend
    assert "http-check expect status 200" in backend
    [default] = [line for line in backend if line.startswith("default-server")]
    words = default.split()
    assert "check" in words and "check-ssl" in words
    assert f"verify required ca-file {site.tls_ca}" in default
    assert "check-sni www.hatestbed.test" in default and "verifyhost www.hatestbed.test" in default
    hp = site.services.haproxy
    assert f"inter {hp.check_inter_ms}ms fastinter {hp.fastinter_ms}ms fall {hp.fall} rise {hp.rise}" in default


def test_retries_redispatch_and_timeouts_come_from_the_model():
    site = site_with({"haproxy": {"retries": 5, "connect_timeout_ms": 700, "client_timeout_s": 11,
                                  "server_timeout_s": 12, "check_inter_ms": 250, "fall": 4, "rise": 3}})
    cfg = haproxy_cfg(site)
    for line in ("retries 5", "option redispatch 1", "timeout connect 700ms", "timeout client 11s",
                 "timeout server 12s"):
        assert f"    {line}\n" in cfg
    assert "inter 250ms fastinter 20ms fall 4 rise 3" in cfg


def test_passive_checks_timeouts_and_balance_follow_the_model(site):
    cfg = haproxy_cfg(site)
    assert "observe layer4 error-limit 1 on-error mark-down" in cfg
    assert "    timeout connect 100ms\n" in cfg and "    timeout check 100ms\n" in cfg
    off = haproxy_cfg(site_with({"haproxy": {"error_limit": 0, "connect_timeout_ms": 30, "check_timeout_ms": 150,
                                             "balance": "leastconn"}}))
    assert " observe layer4 error-limit" not in off and "on-error mark-down" not in off
    assert "    timeout connect 30ms\n" in off and "    timeout check 150ms\n" in off
    assert "    balance leastconn\n" in off


def test_agent_check_only_when_the_model_asks(site):
    on = haproxy_cfg(site)
    assert "agent-check agent-port 9999 agent-inter 200ms" in on
    off = haproxy_cfg(site_with({"haproxy": {"agent_check": False}}))
    assert "agent-check" not in off and "agent-port" not in off
    assert "balance roundrobin" in off


def test_stats_socket_metrics_and_logs_are_per_balancer(site):
    cfg1, cfg2 = haproxy_cfg(site, "lb1"), haproxy_cfg(site, "lb2")
    assert f"stats socket {site.sock('lb1', 'haproxy')} mode 600 level admin" in cfg1
    assert f"stats socket {site.sock('lb2', 'haproxy')} mode 600 level admin" in cfg2
    metrics = section(cfg1, "frontend metrics")
    assert "bind 10.0.2.10:8404" in metrics  # lb1's back leg, never the internet side
    assert "http-request use-service prometheus-exporter if { path /metrics }" in metrics
    assert "bind 10.0.2.11:8404" in section(cfg2, "frontend metrics")
    assert "log stdout format iso local0 info" in cfg1  # timestamps with microseconds


def test_commands_run_in_the_foreground_and_write_the_pid_file(site):
    daemon = HAProxy(site, "lb2")
    argv = daemon.command()
    assert argv[:3] == ["sh", "-c", 'echo $$ > "$0" && exec "$@"']
    assert argv[3] == str(site.pidfile("lb2", "haproxy"))
    assert argv[4:] == ["haproxy", "-db", "-f", str(site.conf("lb2", "haproxy.cfg"))]
    assert daemon.check_command() == ["haproxy", "-c", "-f", str(site.conf("lb2", "haproxy.cfg"))]
    # HAProxy first; then lb1's keepalived alone (it must win the election), then lb2's.
    assert (HAProxy.stage, Keepalived(site, "lb1").stage, Keepalived(site, "lb2").stage) == (4, 5, 5.5)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_rendered_config_passes_haproxy_own_check(tmp_path):
    site = site_with({}, tmp_path)
    create_site_tls(site)  # haproxy -c loads the CA file
    daemon = HAProxy(site, "lb1")
    for path, text in daemon.files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = subprocess.run(daemon.check_command(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_state_changes_are_read_back_from_the_log_with_timestamps():
    log = "\n".join([
        "[WARNING]  (27564) : Server servers/server2 is DOWN. 1 active and 1 backup servers left.",
        "2026-11-24T06:53:48.890848+00:00 Health check for server servers/server2 failed, reason: "
        "Layer4 connection problem, status: 1/2 UP.",
        "2026-11-24T06:53:48.992423+00:00 Server servers/server2 is DOWN. 1 active and 1 backup servers left.",
        "2026-11-24T06:53:49.710993+00:00 Server servers/server2 is UP. 2 active and 1 backup servers online.",
        "2026-11-24T06:58:06.290314+00:00 Backup Server servers/server3 is DOWN. 2 active and 0 backup servers left.",
    ])
    changes = parse_state_changes(log)
    assert [(c.server, c.state) for c in changes] == [("server2", "DOWN"), ("server2", "UP"), ("server3", "DOWN")]
    assert changes[0].backend == "servers"
    assert changes[1].time - changes[0].time == pytest.approx(0.71857, abs=1e-6)


def test_failed_checks_are_read_back_with_haproxys_reason():
    log = "\n".join([
        "[WARNING]  (13427) : Health check for server servers/server1 failed, reason: Layer4 timeout, check duration: "
        "82ms, status: 0/2 DOWN.",
        "2026-12-04T13:20:30.045628+00:00 Health check for server servers/server1 failed, reason: Layer4 timeout, "
        "check duration: 82ms, status: 0/2 DOWN.",
        "2026-12-04T13:20:30.210882+00:00 Agent check for server servers/server1 failed, reason: Layer4 connection "
        'problem, info: "Connection refused", check duration: 1ms, status: 1/1 UP.',
        "2026-12-04T13:20:31.000000+00:00 Health check for backup server servers/server3 failed, reason: Health "
        'analyze, info: "Detected 1 consecutive errors, last one was: L4 unsuccessful connection", status: 0/2 DOWN.',
        "2026-12-04T13:20:31.100000+00:00 Health check for server servers/server2 succeeded, reason: Layer7 check "
        "passed, code: 200, check duration: 6ms, status: 2/2 UP.",
    ])
    failures = parse_check_failures(log)
    assert [(f.server, f.reason, f.agent) for f in failures] == [
        ("server1", "Layer4 timeout", False),
        ("server1", 'Layer4 connection problem, info: "Connection refused"', True),
        ("server3", 'Health analyze, info: "Detected 1 consecutive errors, last one was: L4 unsuccessful connection"',
         False)]
    assert failures[1].time - failures[0].time == pytest.approx(0.165254, abs=1e-6)


def test_server_states_and_status_from_the_stats_socket(tmp_path):
    sock_path = tmp_path / "s" / "lb1-haproxy.sock"
    sock_path.parent.mkdir()
    answer = ("# pxname,svname,status,weight,bck,\n"
              "https_in,FRONTEND,OPEN,,,\n"
              "servers,server1,UP,75,0,\n"
              "servers,server2,DOWN,100,0,\n"
              "servers,server3,UP,100,1,\n"
              "servers,BACKEND,UP,175,0,\n\n")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen()

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                assert conn.recv(100) == b"show stat\n"
                conn.sendall(answer.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    daemon = HAProxy(site_with({}, tmp_path), "lb1")
    assert daemon.server_states() == {"server1": "UP", "server2": "DOWN", "server3": "UP"}
    assert daemon.status(None) == ("server1 UP w=75, server2 DOWN, server3 UP w=100 (backup); "
                                   "checks every 80 ms")
    thread.join(5)
    server.close()


# -- keepalived -----------------------------------------------------------------------------------
def keepalived_conf(site, host="lb1") -> str:
    daemon = Keepalived(site, host)
    return daemon.files()[daemon.config_path]


def test_vrrp_instance_follows_the_model(site):
    conf1, conf2 = keepalived_conf(site, "lb1"), keepalived_conf(site, "lb2")
    assert "vrrp_version 3" in conf1
    for conf, lb, prio, own, peer in ((conf1, "lb1", 253, "10.0.2.10", "10.0.2.11"),
                                      (conf2, "lb2", 252, "10.0.2.11", "10.0.2.10")):
        # adverts on the service leg, unicast to the peer; the VIP on the front leg; both tracked
        assert f"    interface {lb}-eth1\n" in conf
        assert f"    unicast_src_ip {own}\n    unicast_peer {{\n        {peer}\n    }}\n" in conf
        assert f"        10.0.1.100/24 dev {lb}-eth0\n" in conf
        assert f"    track_interface {{\n        {lb}-eth0\n    }}\n" in conf  # eth1: the instance's own
        assert "    virtual_router_id 51\n" in conf
        assert f"    priority {prio}\n" in conf
        assert f"    advert_int {site.services.keepalived.advert_int:g}\n" in conf
        assert "    state BACKUP\n" in conf
        assert "    garp_master_refresh 1\n" in conf
        assert "    garp_master_refresh_repeat 2\n" in conf and "    vrrp_garp_interval 0.5\n" in conf


def test_vrrp_multicast_on_the_front_for_the_lesson():
    conf = keepalived_conf(site_with({"keepalived": {"adverts": "front-multicast", "garp_refresh_s": 0}}), "lb1")
    assert "    interface lb1-eth0\n" in conf and "        10.0.1.100/24 dev lb1-eth0\n" in conf
    assert "unicast" not in conf and "track_interface" not in conf and "garp_master_refresh" not in conf
    assert "vrrp_garp_interval" not in conf


def test_preemption_follows_the_model(site):
    assert "    nopreempt\n" in keepalived_conf(site)
    preempting = site_with({"keepalived": {"preempt": True, "vrid": 7, "priorities": [90, 200]}})
    conf = keepalived_conf(preempting, "lb2")
    assert "    nopreempt\n" not in conf
    assert "    virtual_router_id 7\n" in conf and "    priority 200\n" in conf


def test_track_script_and_notify_are_this_hosts_own(site):
    daemon = Keepalived(site, "lb2")
    files = daemon.files()
    conf = files[daemon.config_path]
    assert f'script "{daemon.check_script}"' in conf
    assert "track_script {\n        chk_haproxy\n        chk_servers\n    }" in conf
    assert f'script "{daemon.servers_script}"' in conf
    servers = files[daemon.servers_script]
    assert "stats_csv='http://10.0.2.11:8404/stats;csv'" in servers  # lb2's own metrics listener
    assert '$1 == "servers"' in servers and "$18 ~ /^UP/" in servers
    assert f'notify "{daemon.notify_script}"' in conf
    script_block = conf.split("vrrp_script chk_haproxy {")[1].split("}")[0]
    settings = [line.split()[0] for line in script_block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "weight" not in settings  # a failed check means FAULT, whatever the priorities
    check = files[daemon.check_script]
    assert f"pidfile='{site.pidfile('lb2', 'haproxy')}'" in check
    assert str(site.pidfile("lb1", "haproxy")) not in check
    assert "pgrep" not in check and "pidof" not in check  # by pid file, never by process name
    assert str(site.vrrp_events) in files[daemon.notify_script]


def test_script_timing_fits_keepalived_whole_second_intervals(site):
    assert Keepalived(site, "lb1").script_timing() == (1, 85, 0.1)
    slow = site_with({"keepalived": {"check_interval": 2.5}})
    interval, budget_cs, poll = Keepalived(slow, "lb1").script_timing()
    assert interval == 3 and poll == 2.5 and budget_cs == 45
    conf = keepalived_conf(slow)
    assert "    interval 3\n" in conf and "    fall 1\n" in conf


def test_every_keepalived_path_is_per_host(site):
    argv1, argv2 = Keepalived(site, "lb1").command(), Keepalived(site, "lb2").command()
    assert argv1[:5] == ["keepalived", "-n", "-l", "-D", "-G"]
    for flag in ("-f", "-p", "-r", "-c"):
        path1, path2 = argv1[argv1.index(flag) + 1], argv2[argv2.index(flag) + 1]
        assert path1 != path2 and "lb1" in path1 and "lb2" in path2
    assert Keepalived(site, "lb1").check_command() == ["keepalived", "-t", "-f", str(site.conf("lb1", "keepalived.conf"))]


def _write(site, host):
    daemon = Keepalived(site, host)
    for path, text in daemon.files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return daemon


def test_notify_script_appends_one_json_line_per_change(tmp_path):
    site = site_with({}, tmp_path)
    site.vrrp_events.parent.mkdir(parents=True)
    daemon = _write(site, "lb2")
    before = time.time()
    subprocess.run([str(daemon.notify_script), "INSTANCE", "VI_51", "MASTER", "100"], check=True)
    assert daemon.master() == "lb2"
    subprocess.run([str(daemon.notify_script), "INSTANCE", "VI_51", "FAULT", "100"], check=True)
    assert daemon.master() is None
    events = [json.loads(line) for line in site.vrrp_events.read_text().splitlines()]
    assert [e["state"] for e in events] == ["MASTER", "FAULT"]
    assert events[0]["host"] == "lb2" and events[0]["vip"] == "10.0.1.100" and events[0]["priority"] == 100
    assert before - 0.01 <= events[0]["t"] <= time.time()
    assert [e["state"] for e in daemon.events()] == ["MASTER", "FAULT"]


def test_track_script_follows_the_haproxy_pid_not_the_name(tmp_path):
    site = site_with({"keepalived": {"check_interval": 0.05}}, tmp_path)
    daemon = _write(site, "lb1")
    pidfile = site.pidfile("lb1", "haproxy")
    pidfile.parent.mkdir(parents=True)

    def check() -> int:
        return subprocess.run([str(daemon.check_script)], timeout=5).returncode

    assert check() == 1  # no pid file
    pidfile.write_text(f"{os.getpid()}\n")
    assert check() == 1  # a live pid that is not HAProxy (a recycled pid)
    # A process whose kernel name is "haproxy": a copy of sleep under that name.
    fake = tmp_path / "haproxy"
    shutil.copy(shutil.which("sleep"), fake)
    proc = subprocess.Popen([str(fake), "30"])
    try:
        pidfile.write_text(f"{proc.pid}\n")
        began = time.monotonic()
        assert check() == 0
        assert 0.5 < time.monotonic() - began < 1.0  # polled for most of keepalived's 1 s interval
        # Run by a process started a moment ago (as keepalived's VRRP process runs it at start):
        # one check, and the answer at once.
        began = time.monotonic()
        assert subprocess.run(["sh", "-c", f"{daemon.check_script}; exit $?"], timeout=5).returncode == 0
        assert time.monotonic() - began < 0.3
        proc.send_signal(signal.SIGKILL)
        time.sleep(0.1)  # not reaped yet: a zombie still named haproxy
        assert Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1].startswith("Z")
        assert check() == 1
    finally:
        proc.kill()
        proc.wait()



def test_the_master_is_read_by_event_time_not_by_line_order(tmp_path):
    # Two notify scripts 1.4 ms apart may append in the opposite order (seen at start-up with
    # 20 ms adverts): lb2 MASTER, then BACKUP on hearing lb1, written BACKUP first.
    site = site_with({}, tmp_path)
    site.vrrp_events.parent.mkdir(parents=True)
    lines = [{"t": 100.1780, "host": "lb1", "state": "MASTER"}, {"t": 100.1803, "host": "lb2", "state": "BACKUP"},
             {"t": 100.1789, "host": "lb2", "state": "MASTER"}]
    site.vrrp_events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert Keepalived(site, "lb1").master() == "lb1"
    # ...and recorded with the times swapped too (each notify script reads the clock itself).
    lines[1]["t"], lines[2]["t"] = 100.1789, 100.1803
    site.vrrp_events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert Keepalived(site, "lb1").master() == "lb1"
