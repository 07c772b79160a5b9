"""Readiness is a check with a deadline: wait_until() polls and names what did not become ready."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from topo.errors import TestbedError

T = TypeVar("T")


class NotReadyError(TestbedError, TimeoutError):
    """Something the testbed waited for did not happen before its deadline."""


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Call `check` every `interval` until it returns a truthy value (which is returned) or
    `timeout` seconds pass (NotReadyError naming `what`). Exceptions from `check` count as "not
    yet"; the last one is quoted in the error."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the check itself is allowed to fail while things come up
            last_error = exc
        if time.monotonic() >= deadline:
            reason = f" (last error: {last_error})" if last_error else ""
            raise NotReadyError(f"{what} did not happen within {timeout:g} s{reason}")
        time.sleep(interval)
