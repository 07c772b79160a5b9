"""The test tiers (see tests/conftest.py) and where the session's testbed provider is kept."""

import pytest

TIERS = ("unit", "live", "labs", "studies")
# The live tiers' session-wide provider (tests/integration/conftest.py), for the summary line.
PROVIDER = pytest.StashKey[object]()


def tier_of(keywords) -> str:
    if "root" not in keywords:
        return "unit"
    return next((tier for tier in ("labs", "studies") if tier in keywords), "live")
