"""report.html and index.html: figures with units, embedded pictures, and what a browser shows."""

import json

import pytest

from experiments import headline
from experiments.html_report import write_index_html, write_report_html
from experiments.report import timeline_plot
from hatestbed.suite import headline_table
from spof import draw_topology
from tests.browser import chromium, view, visible
from tests.unit.test_report import T0, requests
from topo.model import load_topology


def lb_summary(**overrides) -> dict:
    summary = {
        "experiment": "lb_failover", "description": "crash the VIP holder", "started": T0, "finished": T0 + 271.5,
        "seed": 1, "status": "passed", "headline": ["outage_ms", "failed_requests", "vip_move_ms", "split_brain_seen"],
        "trials": {"tuned": [{"trial": 0, "status": "passed", "outage_ms": 70.6, "failed_requests": 7,
                              "traceback": "not shown"}]},
        "metrics": {"tuned": {"outage_ms": {"median": 70.56, "p95": 79.81, "max": 80.84, "n": 3},
                              "failed_requests": {"median": 7, "p95": 7.9, "max": 8, "n": 3},
                              "vip_move_ms": {"median": 71.1, "p95": 71.8, "max": 71.9, "n": 3},
                              "split_brain_seen": False},
                    "stock": {"outage_ms": {"median": 3150.0, "p95": 3384.0, "max": 3410.0, "n": 3}}},
        "topology": {"name": "seed"},
        "timers": {"tuned": {"keepalived_advert_int_s": 0.02, "haproxy_check_inter_ms": 80},
                   "stock": {"keepalived_advert_int_s": 1.0, "haproxy_check_inter_ms": 2000}},
        "versions": {"haproxy": "2.6.12", "keepalived": "2.2.7"},
    }
    summary.update(overrides)
    return summary


def test_figures_carry_units_from_the_metric_name():
    assert headline.figure("outage_ms", {"median": 70.56, "p95": 79.81, "max": 80.84, "n": 3}) == \
        headline.Figure("outage", "70.6 ms", "p95 79.8 ms, max 80.8 ms, 3 trials")
    assert headline.figure("failed_requests", 7).value == "7"  # the unit is in the label already
    assert headline.figure("sequential_max_pair_difference", 0).value == "0 requests"
    assert headline.figure("p99_ratio", 0.42).value == "0.42×"
    assert headline.figure("split_brain_seen", False).value == "no"
    assert headline.figure("vip_stolen_by", []).value == "none"
    assert headline.figure("write_outage_ms", 1523.4).value == "1523 ms"


def test_the_final_summary_fits_100_columns():
    long = lb_summary(experiment="a_long_experiment_name", metrics={
        "tuned": {f"attack_number_{i}_failed_requests": {"median": 95.0, "n": 3} for i in range(8)}},
        headline=[f"attack_number_{i}_failed_requests" for i in range(8)])
    table = headline_table([{"summary": lb_summary()}, {"summary": long}, {"summary": None}])
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "outage 70.6 ms · failed requests 7 · vip move 71.1 ms" in table
    assert "outage 3150 ms" in table  # one row per timer profile
    assert "attack number 0 failed requests 95" in table  # what does not fit is left out whole


def test_report_and_index_open_in_chromium_with_figures_and_pictures(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    plot = timeline_plot(requests(), T0, [(T0 + 0.2, "lb2 MASTER")], run / "timeline-tuned-0.png", "lb_failover")
    picture = draw_topology(load_topology(), run)[1]
    summary = lb_summary()
    (run / "summary.json").write_text(json.dumps(summary))
    report = write_report_html(run, summary, [plot], picture)
    index = write_index_html(tmp_path, [("lb_failover", run, summary)])

    page = report.read_text()
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # opens offline
    assert "<script" not in page
    with chromium() as browser:
        shown = view(browser, report, "report")
        assert shown["title"] == "lb_failover: passed"
        for text in ("PASSED", "70.6 ms", "p95 79.8 ms, max 80.8 ms, 3 trials", "3150 ms", "keepalived_advert_int_s",
                     "0.02", "2.6.12", "Trials: tuned", "Trials: stock"):
            assert text in shown["text"], text
        assert "not shown" not in shown["text"]  # tracebacks stay in summary.json
        assert [i["alt"] for i in shown["images"]] == ["timeline-tuned-0", "topology picture"]
        assert all(visible(i) for i in shown["images"]), shown["images"]

        listed = view(browser, index, "index")
        assert "outage 70.6 ms" in listed["text"] and "outage 3150 ms" in listed["text"]
        browser.find_element("link text", "report").click()
        assert browser.title == "lb_failover: passed"  # the link leads to the run's report


@pytest.mark.parametrize("bad", ["<script>alert(1)</script>"])
def test_text_from_the_summary_is_escaped(tmp_path, bad):
    page = write_report_html(tmp_path, lb_summary(description=bad)).read_text()
    assert bad not in page and "&lt;script&gt;" in page


def test_metrics_that_are_lists_of_records_become_tables(tmp_path):
    cells = [{"component": "keepalived", "timer_ms": 20.0, "load": "stress", "median_ms": 119.5, "spurious": 0},
             {"component": "haproxy", "timer_ms": 50.0, "load": "idle", "median_ms": 114.9, "spurious": 1}]
    summary = lb_summary(metrics={"tuned": {"cells": cells, "spurious_total": 1}}, headline=["spurious_total"])
    page = write_report_html(tmp_path, summary).read_text()
    assert "<h3>cells</h3>" in page
    assert "<td>keepalived</td><td>20 ms</td><td>stress</td><td>120 ms</td><td>0</td>" in page
    assert headline.figure("cells", cells).value == "2 items (in summary.json)"
