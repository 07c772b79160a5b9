"""Every experiment of `all`, one trial each, end to end: the summary exists and its numbers
are plausible.

The runs are the labs' own commands (docs/labs/1-4) and one command for the rest of `all`: one
run in the session serves a lab and this module, whichever comes first (the `topo_run`
fixture), and each is topo/run.py's main() on the shared provider. Results go to a temporary
folder, not the repository's results/.

    lab 1  round_robin                      lab 3  server_failover
    lab 2  lb_failover,lb_failback --capture  lab 4  packet_faults
    rest   link_failure,db_failover,controller_failure --modes galera
           (db_failover in the replication modes: test_database_studies.py, with the studies that
            also need a fresh testbed per trial; here the site stays clean for the next module)
"""

import json

import pytest

from experiments.headline import number
from experiments.registry import resolve
from tests.db_checks import assert_db_failover_done

pytestmark = pytest.mark.root

SEED = 1  # topo/run.py's default: the labs give none
# capture: lb_failover also captures its client's connections (the wire observer's test)
LABS = {"1-tour": ["--experiment", "round_robin", "--trials", "1"],
        "2-floating-ip": ["--experiment", "lb_failover,lb_failback", "--capture", "--trials", "1"],
        "3-health-checks": ["--experiment", "server_failover", "--trials", "1"],
        "4-firewalls-tls-attacks": ["--experiment", "packet_faults", "--trials", "1"]}
REST = ["--experiment", "link_failure,db_failover,controller_failure", "--modes", "galera", "--trials", "1"]
COMMANDS = [*LABS.values(), REST]


@pytest.fixture(scope="module")
def suite(topo_run):
    """name → {"dir": its results folder}; "indexes": the index folder of each command of several."""
    found = {"indexes": []}
    for command in COMMANDS:
        ran = topo_run(command)
        assert ran.code == 0, f"{' '.join(command)}: exit {ran.code}\n{ran.printed[-3000:]}"
        names = command[1].split(",")
        found.update({name: {"name": name, "dir": ran.folder(name)} for name in names})
        if len(names) > 1:
            found["indexes"].append((names, ran.folder("all")))
    return found


def metrics(suite, name, profile="tuned"):
    item = suite[name]
    summary = json.loads((item["dir"] / "summary.json").read_text())
    assert summary["experiment"] == name and summary["seed"] == SEED
    trials = summary["trials"][profile]
    assert trials and all(t["status"] == "passed" for t in trials), trials
    assert (item["dir"] / "report.md").exists()
    return summary["metrics"][profile], trials


def test_the_commands_run_every_experiment_of_all_once():
    named = [name for command in COMMANDS for name in command[1].split(",")]
    assert sorted(named) == sorted(cls.name for cls in resolve("all"))


def test_each_index_links_every_experiment_of_its_command(suite):
    assert len(suite["indexes"]) == 2
    for names, folder in suite["indexes"]:
        index = (folder / "index.md").read_text()
        assert all(name in index for name in names), (names, index)


def test_reports_open_in_chromium_with_their_figures_and_pictures(suite):
    """The real run's pages as a reader sees them (screenshots kept in tests/output/)."""
    from tests.browser import chromium, view, visible

    names, folder = suite["indexes"][-1]
    with chromium() as browser:
        listed = view(browser, folder / "index.html", "suite-index")
        for name in names:
            assert name in listed["text"]
        report = view(browser, suite["lb_failover"]["dir"] / "report.html", "suite-lb_failover")
        outage = json.loads((suite["lb_failover"]["dir"] / "summary.json").read_text())["metrics"]["tuned"]["outage_ms"]
        assert number(outage["median"], "ms") in report["text"]
        assert len(report["images"]) >= 3  # two timelines (tuned, stock) and the topology
        assert all(visible(i) for i in report["images"]), report["images"]


def test_round_robin_alternates_and_leaves_the_backup_idle(suite):
    m, _ = metrics(suite, "round_robin")
    assert m["sequential_max_pair_difference"] <= 2
    assert m["backup_share"] == 0.0
    assert m["sequential_jain"] > 0.99
    assert list(suite["round_robin"]["dir"].glob("distribution-*.png"))


@pytest.mark.parametrize("profile", ["tuned", "stock"])
def test_lb_failover_moves_the_vip_with_a_bounded_outage(suite, profile):
    m, trials = metrics(suite, "lb_failover", profile)
    [trial] = trials
    assert trial["survivor"] != trial["crashed"]
    assert 0 < trial["outage_ms"] < 10_000
    assert trial["vip_move_ms"] is not None and 0 < trial["vip_move_ms"] < 10_000
    assert m["split_brain_seen"] is False
    assert list(suite["lb_failover"]["dir"].glob(f"timeline-{profile}-0.png"))


def test_stock_timers_fail_over_slower_than_tuned(suite):
    tuned, _ = metrics(suite, "lb_failover", "tuned")
    stock, _ = metrics(suite, "lb_failover", "stock")
    assert stock["vip_move_ms"]["median"] > tuned["vip_move_ms"]["median"]


def test_lb_failback_keeps_service(suite):
    m, [trial] = metrics(suite, "lb_failback")
    assert trial["outage_ms"] is not None and trial["outage_ms"] < 10_000
    assert trial["vip_moved_back"] == trial["preempt"]


def test_lb_failovers_outage_agrees_with_a_packet_capture_in_the_client(suite):
    """An independent witness: tcpdump in client1's namespace, one row per TCP connection to
    the VIP. The probe's outage and the wire's agree within one probe interval plus 10 ms."""
    for profile in ("tuned", "stock"):
        _, [trial] = metrics(suite, "lb_failover", profile)
        wire = trial["wire"]
        assert wire["connections"] > 50 and wire["failed_connections"] > 0, wire
        assert abs(trial["outage_ms"] - wire["outage_ms"]) <= trial["probe_spacing_ms"] + 10, (trial["outage_ms"], wire)


def test_server_failover_detects_and_the_backup_serves(suite):
    _, [trial] = metrics(suite, "server_failover")
    assert trial["detection_ms"] is not None and 0 < trial["detection_ms"] < 5_000
    assert trial["backup_serving_ms"] is not None and trial["backup_serving_ms"] < 10_000
    # A node crash is silent (no check refused); a process crash leaves a kernel that answers
    # (no check timed out). Both are reported, each with what HAProxy's checks met.
    assert trial["detected_by"] and not any("refused" in r for r in trial["detected_by"]), trial["detected_by"]
    assert trial["process_detection_ms"] is not None and 0 < trial["process_detection_ms"] < 5_000
    assert trial["process_detected_by"] and not any("timeout" in r for r in trial["process_detected_by"])


def test_link_failure_reroutes(suite):
    _, [trial] = metrics(suite, "link_failure")
    assert trial["reroute_ms"] is not None and trial["reroute_ms"] < 2_000
    assert trial["controller_ms"] is not None
    # Fast failover: with every controller frozen the switches still reroute (echo replies resume).
    assert trial["frozen_reroute_gap_ms"] is not None and trial["frozen_reroute_gap_ms"] < 1_000
    assert trial["frozen_lost_pings"] is not None and trial["frozen_lost_pings"] < 50


def test_db_failover_is_done_by_the_always_on_component_and_loses_no_acknowledged_write(suite):
    m, [trial] = metrics(suite, "db_failover", "galera")
    assert_db_failover_done(trial, "galera")



def test_controller_failure_hands_over_to_the_standby(suite):
    _, [trial] = metrics(suite, "controller_failure")
    assert trial["requests_while_controller_down"] > 0
    assert trial["forwarding_survived"] is True
    assert trial["takeover_ms"] is not None and trial["takeover_ms"] < 5_000
    assert trial["rerouted_without_old_master"] is True and trial["new_flow_ms"] is not None


def test_packet_faults_report_what_each_attack_did(suite):
    m, [trial] = metrics(suite, "packet_faults")
    attacks = trial["attacks"]
    assert set(attacks) == set(m["attacks"]) >= {"rst_to_client", "garp", "vrrp_spoofed_lb", "vrrp_service_leg"}
    assert attacks["rst_to_client"]["affected"] and attacks["rst_to_client"]["failed_requests"] > 0
    # Forged adverts and gratuitous ARPs from an internet client are dropped and counted, and
    # the VIP stays. Multicast adverts from its own address reach nobody (with unicast adverts no
    # balancer joins the VRRP group); a spoofed balancer's address is dropped by the fabric's
    # edge guards at the attacker's port.
    # Dropped means: the guards counted the packets, VRRP never changed state and the client's ARP
    # entry for the VIP never moved. A few connect timeouts with none of that moving are not
    # attributed to the attack (seen on a loaded machine on 2026-12-04: 2 and 3 in vrrp_spoofed_lb,
    # 12 once in garp); a VIP taken away costs the client ~650 ms of requests until its ARP entry
    # is put back (about a fifth of an attack's probe requests), so the bound is 5 %.
    for name in ("vrrp_own_source", "vrrp_spoofed_lb", "vrrp_service_leg", "garp"):
        what = trial["what_happened"][name]
        assert not attacks[name]["vip_stolen"] and attacks[name]["vrrp_state_changes"] == 0, what
        assert len(attacks[name]["victim_arp_changes"]) <= 1, what  # the client's ARP entry never moved
        assert attacks[name]["failed_requests"] <= 0.05 * attacks[name]["requests"], what
        if name != "vrrp_own_source":  # its multicast from its own address needs no guard to go unheard
            assert attacks[name]["guard_dropped_delta"] > 0, what


def test_a_dropped_in_experiment_runs_by_name(topo_run):
    """A new experiment is one module: dropped into the package, it runs by name with no other
    edit (discovery scans the package on every command)."""
    from tests.dropping import dropped_experiment

    with dropped_experiment() as name:
        ran = topo_run(["--experiment", name, "--trials", "1"])
    assert ran.code == 0, ran.printed[-3000:]
    summary = json.loads((ran.folder(name) / "summary.json").read_text())
    [trial] = summary["trials"]["tuned"]
    assert trial["status"] == "passed" and trial["served"] > 20
    steps = [step["name"] for step in summary["journal"]["tuned"]]
    assert "inject link:client2-s2" in steps and "recover link:client2-s2" in steps
