"""The dashboard's targets, measured (issue 24), into results/<time>-bench_dashboard/summary.json:

  lag      the page behind the daemons: for each of N faults on the VIP holder, the time the page
           reported showing the new holder (logs/dashboard-shown.jsonl, the browser's clock) minus
           keepalived's notify record of the new MASTER (logs/vrrp-events.jsonl): median and max
  probe    does the strip chart's probe change what it shows? lb_failover's outage with the page
           open (the probe running from the last client) and with it closed, TRIALS trials each
  scale    the 48-server topology: the pollers' turn times, the page's time per update, the lag

    sudo .venv/bin/python scripts/bench_dashboard.py [--faults 10] [--trials 3] [--servers 48] [--skip scale]

Headless Chromium (Debian's) holds the page open; the same machine's clock stamps both ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from experiments import report  # noqa: E402
from experiments.registry import resolve  # noqa: E402
from hatestbed.dashboard import Dashboard  # noqa: E402
from hatestbed.faultboard import FaultBoard  # noqa: E402
from hatestbed.provider import TestbedProvider  # noqa: E402
from hatestbed.suite import default_results, run_on  # noqa: E402
from runtime.jsonl import read_jsonl  # noqa: E402
from runtime.observe import vip_holders  # noqa: E402
from runtime.wait import wait_until  # noqa: E402
from tests.browser import chromium  # noqa: E402
from topo.model import load_topology  # noqa: E402
from topo.scale import scaled_topology  # noqa: E402


def open_page(driver, dashboard) -> None:
    driver.get(f"http://127.0.0.1:{dashboard.port}/")
    wait_until(lambda: driver.execute_script("return document.getElementById('connection').textContent") == "live",
               30, "the page's event stream")


def lags(testbed, dashboard, faults: int) -> list[dict]:
    """Crash the VIP holder `faults` times (healing each): the page's lag behind each VIP move."""
    found = []
    for _ in range(faults):
        [holder] = wait_until(lambda: vip_holders(testbed) if len(vip_holders(testbed)) == 1 else None, 20,
                              "one VIP holder")
        fault = dashboard.board.fail(f"node:{holder}", by="bench")
        other = wait_until(lambda: [h for h in vip_holders(testbed) if h != holder], 15, "the VIP on the survivor")[0]
        master = wait_until(lambda: next((e["t"] for e in read_jsonl(testbed.site.vrrp_events)
                                          if e["t"] >= fault.injected_at and e["host"] == other
                                          and e["state"] == "MASTER"), None), 10, "the MASTER notify")
        shown = wait_until(lambda: next((r["t_shown"] for r in read_jsonl(dashboard.shown_path)
                                         if r["what"] == "vip" and r["value"] == other and r["t_shown"] >= master),
                                        None), 10, "the page showing the new holder")
        found.append({"from": holder, "to": other, "vip_move_ms": round((master - fault.injected_at) * 1000, 1),
                      "page_lag_ms": round((shown - master) * 1000, 1)})
        print(f"  {holder} -> {other}: VIP moved {found[-1]['vip_move_ms']} ms after the crash, "
              f"page {found[-1]['page_lag_ms']} ms after the notify", flush=True)
        dashboard.board.heal(f"node:{holder}", by="bench")
        time.sleep(2.0)  # the healed balancer settles as BACKUP before the next crash
    return found


def outages(testbed, trials: int) -> list[float]:
    [cls] = resolve("lb_failover")
    result = run_on(testbed, cls, trials, seed=1)
    return [t["outage_ms"] for t in result["summary"]["trials"]["as-running"] if "outage_ms" in t]


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "n": len(values)} if values else {"n": 0}


def turn_ms(dashboard) -> dict:
    return {which: spread([s * 1000 for s in seconds]) for which, seconds in dashboard.turn_seconds.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--servers", type=int, default=48)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: lag, probe, scale")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    folder = report.results_dir(default_results(), "bench_dashboard")
    summary: dict = {"started": time.time()}
    with TestbedProvider(say=lambda line: print(line, flush=True)) as provider:
        testbed = provider.acquire(load_topology())
        dashboard = Dashboard(testbed, FaultBoard(testbed)).start()
        try:
            with chromium() as driver:
                open_page(driver, dashboard)
                if "lag" not in skip:
                    print(f"lag: {args.faults} crashes of the VIP holder, page open", flush=True)
                    summary["lag"] = lags(testbed, dashboard, args.faults)
                    summary["lag_ms"] = spread([f["page_lag_ms"] for f in summary["lag"]])
                if "probe" not in skip:
                    print(f"probe: lb_failover x{args.trials} with the page open", flush=True)
                    summary["lb_failover_page_open_ms"] = spread(outages(testbed, args.trials))
                summary["default_turn_ms"] = turn_ms(dashboard)
                summary["default_render_ms"] = spread(driver.execute_script("return window.dashboard.renderMs"))
            if "probe" not in skip:
                wait_until(lambda: dashboard.strip.probe is None, 15, "the strip probe stopped with the page closed")
                print(f"probe: lb_failover x{args.trials} with the page closed", flush=True)
                summary["lb_failover_page_closed_ms"] = spread(outages(testbed, args.trials))
        finally:
            dashboard.stop()
        if "scale" not in skip:
            print(f"scale: {args.servers} servers", flush=True)
            began = time.monotonic()
            testbed = provider.acquire(scaled_topology(load_topology(), args.servers, clients=16))
            summary["scale_bringup_s"] = round(time.monotonic() - began, 1)
            began = time.monotonic()
            dashboard = Dashboard(testbed, FaultBoard(testbed)).start()
            summary["scale_dashboard_start_s"] = round(time.monotonic() - began, 2)
            try:
                with chromium() as driver:
                    began = time.monotonic()
                    open_page(driver, dashboard)
                    summary["scale_page_live_s"] = round(time.monotonic() - began, 2)
                    scale_lags = lags(testbed, dashboard, 3)
                    summary["scale_lag_ms"] = spread([f["page_lag_ms"] for f in scale_lags])
                    time.sleep(5)
                    summary["scale_turn_ms"] = turn_ms(dashboard)
                    summary["scale_render_ms"] = spread(driver.execute_script("return window.dashboard.renderMs"))
                    driver.save_screenshot(str(folder / "dashboard-48-servers.png"))
            finally:
                dashboard.stop()
    summary["finished"] = time.time()
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "lag"}, indent=2))
    print(f"results: {folder / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
