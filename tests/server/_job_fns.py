"""Job functions for tests/server/test_jobs.py: top-level, so a spawned worker process can import them."""

from __future__ import annotations

import os
import time


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def crash() -> None:
    os._exit(3)  # the worker dies as user code might kill it (segfault, sys.exit in a C extension)


def pid() -> int:
    return os.getpid()
