"""The test tiers (see tests/conftest.py) and where the session's testbed provider is kept."""

from contextlib import contextmanager

import pytest

TIERS = ("unit", "live", "labs", "studies")
# The live tiers' session-wide provider (tests/integration/conftest.py), for the summary line.
PROVIDER = pytest.StashKey[object]()
# Set in a test module when one of its tests failed (tests/integration/conftest.py).
BROKEN = "_hatestbed_broken"


# Module order inside the live tiers, so testbeds are shared. The live tier starts with the
# modules that start topo/run.py themselves or a Mininet of their own (no shared testbed may be
# running), then those on other networks (the bare network, the database tier of two), and ends
# with the modules on the default topology, one after another (the provider reuses or retimes
# one testbed), whose testbed the labs then reuse. The experiment suite goes first among those,
# on a fresh testbed as the main job's is.
# A module not listed runs after the listed ones of its tier.
# (server_failover's double node crash that once left Galera with no primary component was a
# restart race, not the testbed's history: see MariaDB.before_retry.)
ORDER = (
    "test_check_live", "test_controller_live", "test_lifecycle", "test_machines_lifecycle", "test_variants",
    "test_network", "test_machines", "test_database_tier",
    "test_experiment_suite", "test_services", "test_alerting_live", "test_faults_live", "test_cli_script",
    "test_dashboard",
    "test_labs",
    "test_capacity_weighting", "test_spof_sweep", "test_timer_sweep_live", "test_database_modes",
    "test_database_studies",
)


def order_key(item) -> tuple[int, int]:
    stem = item.path.stem
    return TIERS.index(tier_of(item.keywords)), ORDER.index(stem) if stem in ORDER else len(ORDER)


def tier_of(keywords) -> str:
    if "root" not in keywords:
        return "unit"
    return next((tier for tier in ("labs", "studies") if tier in keywords), "live")


@contextmanager
def acquired(provider, request, topology):
    """The module's testbed: `topology` from the shared provider, handed back dirty if a test of
    the module failed or the module says it changes the site for good (CHANGES_THE_SITE = True,
    or a function of the testbed saying so for that testbed)."""
    testbed = provider.acquire(topology)
    try:
        yield testbed
    finally:
        module = request.module
        changes = getattr(module, "CHANGES_THE_SITE", False)
        provider.release(dirty=module.__dict__.get(BROKEN, False)
                         or (changes(testbed) if callable(changes) else changes))
