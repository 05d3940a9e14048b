"""Waiting on a condition instead of sleeping a fixed time: a test then takes as long as the condition needs, on a
quiet machine and on a loaded one.

>>> wait_until(lambda: 3, timeout=1.0, what="a number")
3
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, what: str = "the condition",
               interval: float = 0.05) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns a true value, and return that value; fail
    the test (``AssertionError`` naming ``what``) if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} was not met within {timeout:g} s"
        time.sleep(interval)
