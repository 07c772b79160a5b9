"""Shared test set-up: root-only tests are skipped (not failed) when not root."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (Mininet, Open vSwitch)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
