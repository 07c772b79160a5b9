"""The CLI's --script mode on the shared testbed, as topo/run.py's own main() in this process
(the `topo_run` fixture): plain commands, faults by address (refusals included), and the live
views (watch, probe, dist) around a failover. topo/run.py as a process of its own, its teardown
and --clean: test_lifecycle.py."""

import re

import pytest

pytestmark = pytest.mark.root


def sections(out: str) -> dict[str, str]:
    """A script's output cut at its `client1 echo == NAME ==` lines: NAME → what came after it."""
    parts = re.split(r"^== (\w+) ==\r?$", out, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_script_mode_runs_the_cli_commands_faults_and_live_views(topo_run, tmp_path):
    """One --script session with three parts: plain commands, faults by address, and the live
    views around a failover."""
    results = tmp_path / "results"
    (results / "20260101T000000Z-lb_failover").mkdir(parents=True)
    (results / "20260101T000000Z-lb_failover" / "report.html").write_text("<html></html>")
    script = tmp_path / "commands"
    script.write_text(
        "client1 echo == commands ==\nstatus\nclient1 ping -c1 -W2 10.0.1.12\nspof\n"
        "client1 echo == faults ==\nfaults\nfail daemon:haproxy@lb1\nfail daemon:haproxy@lb1\nsh sleep 1\nvip\n"
        "fail node:nowhere\nheal link:s1-s2\nheal all\nsh sleep 2\nstatus\n"
        "client1 echo == views ==\nhelp watch\nprobe 2\ndist 40\nwatch 1\nfail node:server1\nsh sleep 1\ndist 40\n"
        "probe 0\nreport\nheal all\n")
    ran = topo_run(["--script", str(script)], results=results)
    assert ran.code == 0, ran.printed[-3000:]
    part = sections(ran.printed)
    assert set(part) == {"commands", "faults", "views"}, ran.printed[-3000:]

    out = part["commands"]
    assert "1 received" in out
    assert "10.0.2.12/24" in out  # the status table lists server1's address
    assert "SPOF analysis of seed" in out and "link:client1-s1" in out  # the CLI's spof

    out = part["faults"]
    assert "daemon:haproxy@lb1" in out and "partition:" in out  # the catalogue
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3}  injected daemon:haproxy@lb1", out)
    assert "fail: daemon:haproxy@lb1 is already injected" in out
    assert "held by lb2" in out  # lb1's keepalived saw its HAProxy gone and gave the VIP up
    assert re.search(r"  \d\d:\d\d:\d\d\.\d{3}  lb2 +MASTER", out)  # wall-clock times, not unix floats
    assert "fail: " in out and "nowhere" in out
    assert "heal: link:s1-s2 is not injected (injected: daemon:haproxy@lb1)" in out
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3}  healed daemon:haproxy@lb1", out)
    assert re.search(r"lb1 +haproxy .*OK", out), out  # running again in the final status

    out = part["views"]
    assert "watch [SECONDS]: who holds the VIP" in out  # help for the new commands
    rate = re.search(r"2\.\d s +(\d+) req/s  ok (\d+)  errors 0 .*serving: server[12]", out)
    assert rate and int(rate.group(1)) > 20 and int(rate.group(2)) > 50, out
    [before, after] = re.findall(r"server1 +active +(\d+).*\n.*server2 +active +(\d+).*\n.*server3 +backup +(\d+)",
                                 out)
    assert abs(int(before[0]) - int(before[1])) <= 2 and before[2] == "0"  # round robin, backup idle
    # server1 down: server2 takes every request; HAProxy's backup waits until no active server is up.
    assert after == ("0", "40", "0")
    assert re.search(r"VIP 10\.0\.1\.100: lb[12]\n", out)
    assert re.search(r"lb1 +haproxy sees: server1 UP  server2 UP  server3 UP", out)
    assert "database: galera Synced" in out and "OpenFlow role: MASTER" in out
    assert "usage: probe [SECONDS]" in out
    assert str(results / "20260101T000000Z-lb_failover" / "report.html") in out
