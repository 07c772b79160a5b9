"""Shared test set-up: the tiers, and root-only tests skipped (not failed) when not root.

    tier      what                                                 marker
    unit      no root, no network: models, templates, judgements   (none)
    live      real testbeds shared through one provider            root (+ live, the default)
    labs      every lab's commands, as a student types them        root + labs
    studies   the long experiments (sweep, frontier, database)     root + studies

One `pytest` runs them all, in that order, and ends with one summary line per tier.
"""

import os
import time

import pytest

from tests.browser import OUTPUT
from tests.tiers import PROVIDER, TIERS, order_key, tier_of


@pytest.hookimpl(tryfirst=True)  # before `-m` selects: it may select `-m live`
def pytest_collection_modifyitems(config, items):
    for item in items:
        if tier_of(item.keywords) == "live":
            item.add_marker(pytest.mark.live)
    # Tier by tier, modules in the order that shares testbeds best (tests/tiers.py); a module's
    # tests stay together and in their own order (a stable sort).
    items.sort(key=order_key)
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (Mininet, Open vSwitch)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


SECONDS = dict.fromkeys(TIERS, 0.0)  # wall-clock per tier, fixtures' set-up and teardown included


# Each acquire of the shared provider, with the test whose set-up or run asked for it: written to
# tests/output/testbeds.txt at the end, to see where bring-ups go.
ACQUIRES: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    began = time.monotonic()
    # The provider is stashed by the first test that sets it up: count its log from here on.
    seen = len(getattr(item.config.stash.get(PROVIDER, None), "log", []))
    try:
        return (yield)
    finally:
        SECONDS[tier_of(item.keywords)] += time.monotonic() - began
        for served in getattr(item.config.stash.get(PROVIDER, None), "log", [])[seen:]:
            ACQUIRES.append(f"{served.way:8} {served.topology:24} {served.seconds:6.1f} s  {item.nodeid}"
                            + (f"  (restarted {', '.join(served.restarted)})" if served.restarted else ""))


def pytest_terminal_summary(terminalreporter):
    """One line per tier that ran: its outcomes and the time it took."""
    seen = {tier: {} for tier in TIERS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            keywords = getattr(report, "keywords", None)
            if keywords is not None:
                seen[tier_of(keywords)].setdefault(outcome, set()).add(report.nodeid)
    for tier in TIERS:
        if seen[tier]:
            parts = ", ".join(f"{len(ids)} {outcome}" for outcome, ids in seen[tier].items())
            terminalreporter.write_line(f"tier {tier}: {parts} in {SECONDS[tier]:.0f} s")
    provider = terminalreporter.config.stash.get(PROVIDER, None)
    if provider is not None and provider.log:
        terminalreporter.write_line(provider.summary())
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "testbeds.txt").write_text("".join(line + "\n" for line in ACQUIRES))
