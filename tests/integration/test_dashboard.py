"""The live dashboard driven through the real page in headless Chromium, on the shared testbed:
a click on lb1 crashes it and the page shows the VIP on lb2 with red marks then green ones;
heal brings lb1 back as BACKUP; a `fail` typed in the CLI shows on the page; the monitoring
pages answer through loopback; nothing of the testbed listens beyond 127.0.0.1.

    pytest (this process)                                  Chromium (headless)
      Dashboard(testbed, board) ──SSE── 127.0.0.1:<port> ──▶ page: click lb1 → fail node:lb1
      TestbedCLI(script, board)  ──fail/heal──▶ the same FaultBoard ──▶ the page's timeline

Screenshots go to tests/output/ (dashboard-*.png).
"""

import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from hatestbed import cli
from hatestbed.dashboard import Dashboard
from hatestbed.faultboard import FaultBoard
from runtime.observe import vip_holders
from runtime.runstate import child_pids
from runtime.wait import wait_until
from tests.browser import OUTPUT, chromium
from tests.tiers import acquired
from topo.model import load_topology

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def testbed(provider, request):
    with acquired(provider, request, load_topology()) as testbed:
        yield testbed


@pytest.fixture(scope="module")
def served(testbed):
    """The dashboard on the shared testbed, with the fault board a CLI session shares."""
    board = FaultBoard(testbed)
    dashboard = Dashboard(testbed, board).start()
    try:
        yield dashboard
    finally:
        board.heal_all(by="test")
        dashboard.stop()


@pytest.fixture(scope="module")
def page(served):
    with chromium() as driver:
        driver.set_window_size(1400, 1500)
        driver.get(f"http://127.0.0.1:{served.port}/")
        wait_until(lambda: js(driver, "return document.getElementById('connection').textContent") == "live", 15,
                   "the page's event stream")
        yield driver


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def screenshot(driver, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT / f"dashboard-{name}.png"))


def page_text(driver, element: str) -> str:
    return js(driver, "return document.getElementById(arguments[0]).textContent", element)


def click_node(driver, node: str) -> None:
    """A real mouse click on the node where Cytoscape drew it on its canvas."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = js(driver, "const p = window.dashboard.cy.getElementById(arguments[0]).renderedPosition();"
                      "return [p.x, p.y];", node)
    graph = driver.find_element("id", "graph")
    size = graph.size  # move_to_element_with_offset counts from the element's centre
    ActionChains(driver).move_to_element_with_offset(graph, x - size["width"] / 2, y - size["height"] / 2).click().perform()
    wait_until(lambda: js(driver, "const m = document.getElementById('menu');"
                                  "return !m.hidden && m.dataset.component === arguments[0];", node), 5,
               f"the fault menu of {node}")


def choose(driver, address: str) -> None:
    driver.find_element("css selector", f'#menu button[data-address="{address}"]').click()


def record_on_page(driver, lab: int, step: str, kind: str, value: str) -> None:
    """Type a prediction or an answer into the page's lab panel and press its button."""
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "lab-select")).select_by_value(str(lab))
    wait_until(lambda: driver.find_elements("css selector", f'#lab-steps input[data-step="{step}"][data-kind="{kind}"]'),
               5, f"lab {lab}'s step {step} on the page")
    field = driver.find_element("css selector", f'#lab-steps input[data-step="{step}"][data-kind="{kind}"]')
    field.clear()
    field.send_keys(value)
    driver.find_element("css selector", f'#lab-steps button[data-step="{step}"][data-kind="{kind}"]').click()
    wait_until(lambda: js(driver, "return [...document.querySelectorAll('#lab-verdicts li')].length > 0"), 5,
               "the lab's verdicts")


def marks_since(driver, t: float) -> list[dict]:
    return js(driver, "return window.dashboard.marks.filter(m => m.t >= arguments[0]);", t)


def vip_on_lb1(testbed, board) -> None:
    """lb1 holds the VIP, as the test's story needs: after an earlier module's failover (no
    preemption) lb2 may hold it; a crash and heal of lb2 gives it back to lb1."""
    if vip_holders(testbed) == ["lb1"]:
        return
    board.fail("node:lb2", by="test")
    wait_until(lambda: vip_holders(testbed) == ["lb1"], 10, "the VIP on lb1")
    board.heal("node:lb2", by="test")


def test_a_click_on_lb1_crashes_it_and_the_page_shows_the_failover_then_heal_brings_it_back(testbed, served, page):
    vip_on_lb1(testbed, served.board)
    wait_until(lambda: page_text(page, "vip-holder") == "lb1", 10, "the page showing the VIP on lb1")
    wait_until(lambda: len(marks_since(page, time.time() - 2)) >= 10, 15, "the strip chart's probe marks")
    screenshot(page, "healthy")
    record_on_page(page, 2, "vip-move-ms", "predict", "100")  # a student's guess, before the crash
    clicked = time.time()
    click_node(page, "lb1")
    assert "crash lb1" in page_text(page, "menu")  # the catalogue's description under the address
    choose(page, "node:lb1")

    wait_until(lambda: page_text(page, "vip-holder") == "lb2", 10, "the page showing the VIP on lb2")
    assert vip_holders(testbed) == ["lb2"]  # the page shows what the testbed says
    wait_until(lambda: js(page, "return window.dashboard.cy.getElementById('lb1').hasClass('down')"), 5,
               "lb1 drawn down")
    # Red marks (requests lost while the VIP moved), then green ones from the survivor.
    failed = wait_until(lambda: [m for m in marks_since(page, clicked) if not m["server"]], 10,
                        "a red mark: a request the crash lost")
    wait_until(lambda: [m for m in marks_since(page, failed[-1]["t"]) if m["server"]], 10,
               "green marks after the red ones")
    timeline = page_text(page, "timeline")
    assert "injected node:lb1 (page)" in timeline and "lb2 MASTER" in timeline
    time.sleep(1)  # the strip chart redraws twice a second: let it show the red mark
    screenshot(page, "lb1-crashed")

    click_node(page, "lb1")
    choose(page, "node:lb1")  # the same address, now offered as heal
    wait_until(lambda: "BACKUP" in page_text(page, "vrrp-lb1"), 30, "lb1 back as BACKUP on the page")
    wait_until(lambda: not js(page, "return window.dashboard.cy.getElementById('lb1').hasClass('down')"), 10,
               "lb1 drawn up again")
    assert "healed node:lb1 (page)" in page_text(page, "timeline")
    assert page_text(page, "injected") == "none"
    screenshot(page, "lb1-healed")

    # Lab 2's self-check on the page, answered from what the page shows, as a student would.
    events = js(page, "return window.dashboard.events.filter(e => e.t >= arguments[0]);", clicked - 1)
    injected = next(e["t"] for e in events if e["text"] == "injected node:lb1 (page)")
    master = next(e["t"] for e in events if e["text"] == "lb2 MASTER" and e["t"] >= injected)
    red = [m for m in js(page, "return window.dashboard.marks;") if not m["server"] and injected - 1 <= m["t"] <= master + 1]
    record_on_page(page, 2, "vip-move-ms", "answer", f"{(master - injected) * 1000:.0f}")
    record_on_page(page, 2, "lost-requests", "answer", str(len(red)))
    record_on_page(page, 2, "failback", "answer", "no")  # nopreempt: lb1 stays BACKUP
    time.sleep(5)  # failback is judged 5 s after the heal
    page.find_element("id", "lab-check").click()
    wait_until(lambda: "[done] failback" in page_text(page, "lab-verdicts"), 10, "lab 2 checked on the page")
    verdicts = page_text(page, "lab-verdicts")
    assert "[done] vip-move-ms" in verdicts and "[done] lost-requests" in verdicts, verdicts
    assert "you predicted 100 ms; the testbed measured" in verdicts and "after the event" not in verdicts
    screenshot(page, "lab-check")


def test_a_fail_typed_in_the_cli_shows_on_the_page(testbed, served, page, tmp_path):
    script = tmp_path / "commands"
    script.write_text("fail daemon:haproxy@server1\nsh sleep 1\nheal daemon:haproxy@server1\n")
    typed = time.time()
    # Not an address of this topology (server1 runs nginx, not HAProxy): refused, and the page says so.
    cli.TestbedCLI(testbed, script=str(script), board=served.board, dashboard=served)
    script.write_text("fail link:server1-s3\nsh sleep 1.5\nheal link:server1-s3\n")
    cli.TestbedCLI(testbed, script=str(script), board=served.board, dashboard=served)
    wait_until(lambda: "healed link:server1-s3 (cli)" in page_text(page, "timeline"), 10,
               "the CLI's heal on the page")
    timeline = page_text(page, "timeline")
    assert "injected link:server1-s3 (cli)" in timeline
    assert "fail daemon:haproxy@server1 (cli) FAILED" in timeline
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3}\s*haproxy\s*lb1 sees server1 DOWN", timeline), timeline[:2000]
    events = js(page, "return window.dashboard.events.filter(e => e.t >= arguments[0]).map(e => e.text);", typed - 1)
    assert events.index("injected link:server1-s3 (cli)") < events.index("healed link:server1-s3 (cli)")
    screenshot(page, "cli-fault")


def test_the_monitoring_pages_answer_through_loopback(served):
    expected = {"prometheus": "Prometheus", "alertmanager": "Alertmanager", "haproxy": "Statistics Report"}
    assert {link["name"].split("-")[0] for link in served.links} == set(expected)
    for link in served.links:
        assert link["url"].startswith("http://127.0.0.1:")
        try:
            answer = urllib.request.urlopen(link["url"], timeout=5)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{link}: {exc}") from None
        with answer:
            body = answer.read().decode(errors="replace")
        assert answer.status == 200 and expected[link["name"].split("-")[0]] in body, (link, body[:300])


def test_nothing_of_the_testbed_listens_beyond_loopback(testbed, served):
    """Every listening socket of the root namespace that belongs to this process or one the
    run started binds 127.0.0.1 (the emulated hosts' own sockets are in their namespaces)."""
    ours, parents = {os.getpid()}, [os.getpid()]
    while parents:  # this process's descendants: the controller, the relays, the daemons' shells
        found = [child for parent in parents for child in child_pids(parent) if child not in ours]
        ours.update(found)
        parents = found
    listening = subprocess.run(["ss", "-Hltnup"], capture_output=True, text=True, check=True).stdout.splitlines()
    mine = []
    for line in listening:
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if pids & ours:
            mine.append(line.split()[4])  # Local Address:Port
    assert f"127.0.0.1:{served.port}" in mine and len(mine) >= 1 + len(served.links), listening
    # Loopback only: 127.0.0.1 for the testbed; ChromeDriver (this test's browser) adds [::1].
    assert all(address.startswith(("127.0.0.1:", "[::1]:")) for address in mine), mine
