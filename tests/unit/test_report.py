"""Results on disk: folder names, summary schema, plots as PNG, the human report and the index."""

import json
import re
from datetime import datetime, timezone

import pytest

from experiments.analysis import distribution, outage
from experiments.probes import Request
from experiments.report import (SummaryError, daemon_versions, distribution_plot, results_dir, timeline_plot,
                                write_index, write_report_md, write_summary)
from runtime.text import wall_clock

T0 = 1_700_000_000.0
PNG = b"\x89PNG\r\n\x1a\n"


def summary(**overrides) -> dict:
    base = {
        "experiment": "vip_failover", "started": "2026-01-01T12:00:00Z", "finished": "2026-01-01T12:01:00Z",
        "seed": 7, "status": "passed",
        "trials": {"tuned": [{"trial": 1, "outage_ms": 212.5, "failed_requests": 21, "detail": {"nested": 1}},
                             {"trial": 2, "outage_ms": 198.0, "failed_requests": 19}]},
        "metrics": {"tuned": {"outage_ms": {"median": 205.25, "max": 212.5}, "failed_requests_max": 21,
                              "p_value": float("nan")}},
        "topology": {"name": "seed"},
        "timers": {"advert_int": 0.1, "check_inter_ms": 100},
        "versions": {"haproxy": "2.6.12", "python": "3.11.2"},
    }
    base.update(overrides)
    return base


def requests() -> list[Request]:
    rows = []
    for i in range(100):
        sent = T0 - 0.5 + i * 0.01
        if 50 <= i < 70:
            rows.append(Request(i, sent, sent + 1.0, 0, "connect_timeout"))
        else:
            rows.append(Request(i, sent, sent + 0.003, 200, "", f"server{1 + i % 2}"))
    return rows


def test_results_dir_is_named_by_utc_time(tmp_path):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    first = results_dir(tmp_path / "results", "vip_failover", when)
    assert first.is_dir() and first.name == "20260102T030405Z-vip_failover"
    second = results_dir(tmp_path / "results", "vip_failover", when)
    assert second.name == "20260102T030405Z-vip_failover-2"  # never overwrites a run
    assert re.fullmatch(r"\d{8}T\d{6}Z-x", results_dir(tmp_path, "x").name)


def test_valid_summary_is_written(tmp_path):
    path = write_summary(tmp_path, summary())
    data = json.loads(path.read_text())
    assert data["experiment"] == "vip_failover"
    assert data["metrics"]["tuned"]["p_value"] is None  # NaN is not JSON
    assert path.read_text().startswith('{\n  "experiment"')  # indent 2


@pytest.mark.parametrize("broken", [
    {k: v for k, v in summary().items() if k != "seed"},
    summary(status="ok"),
    summary(trials={"tuned": {"not": "a list"}}),
    summary(trials=[{"trial": 1}]),
])
def test_invalid_summary_is_refused(tmp_path, broken):
    with pytest.raises(SummaryError):
        write_summary(tmp_path, broken)
    assert not (tmp_path / "summary.json").exists()


def test_plots_are_png(tmp_path):
    reqs = requests()
    o = outage(reqs, T0)
    events = [(T0 + 0.12, "lb2 MASTER"), (T0 + 0.05, "HAProxy: server1 DOWN")]
    timeline = timeline_plot(reqs, T0, events, tmp_path / "timeline.png", "VIP failover", outage=o)
    d = distribution([r.served_by for r in reqs], {"server1": 0.5, "server2": 0.5, "server3": 0})
    dist = distribution_plot(d["counts"], {"server1": 0.5, "server2": 0.5, "server3": 0},
                             tmp_path / "distribution.png", "Round robin")
    for path in (timeline, dist):
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == PNG


def test_timeline_plot_without_failures_or_events(tmp_path):
    reqs = [r for r in requests() if r.ok]
    path = timeline_plot(reqs, T0, [], tmp_path / "t.png", "quiet", outage=outage(reqs, T0))
    assert path.read_bytes()[:8] == PNG


def test_report_md_has_headline_table_and_plots(tmp_path):
    plot = distribution_plot({"server1": 5, "server2": 5}, {"server1": 1, "server2": 1}, tmp_path / "d.png", "d")
    path = write_report_md(tmp_path, summary(), [plot])
    text = path.read_text()
    assert "## Headline metrics" in text
    assert "| metric | value |" in text
    assert "| outage_ms.median | 205.2 |" in text
    assert "| trial | outage_ms | failed_requests |" in text  # nested trial values are left out
    assert "![d](d.png)" in text
    assert "| advert_int | 0.1 |" in text and "Seed: 7" in text
    # Unix times (what experiments record) reach people as local wall-clock time, never as floats.
    timed = write_report_md(tmp_path, summary(started=T0, finished=T0 + 60.5)).read_text()
    assert f"Started {wall_clock(T0, date=True)}, finished {wall_clock(T0 + 60.5, date=True)} (local time)" in timed
    assert str(T0) not in timed


def test_index_links_every_run(tmp_path):
    runs = []
    for name in ("vip_failover", "round_robin"):
        d = results_dir(tmp_path, name)
        s = summary(experiment=name, headline=["failed_requests_max", "p_value", "outage_ms"])
        write_summary(d, s)
        runs.append((name, d, s))
    index = write_index(tmp_path, runs)
    assert index.name.endswith("-all")
    data = json.loads((index / "index.json").read_text())
    assert [r["experiment"] for r in data["runs"]] == ["vip_failover", "round_robin"]
    assert data["runs"][0]["headline"]["tuned"]["failed_requests_max"] == 21
    assert data["runs"][0]["headline"]["tuned"]["p_value"] is None
    assert data["runs"][0]["headline"]["tuned"]["outage_ms"].startswith("205.2 (min")  # no p95 from 2 trials
    md = (index / "index.md").read_text()
    assert f"(../{runs[1][1].name}/report.md)" in md


def test_daemon_versions_tolerates_missing_programs(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    versions = daemon_versions()
    assert versions["haproxy"] is None and versions["nginx"] is None
    assert versions["python"]
