"""Side-by-side timing: alternate the contenders so drift hits both equally."""

from __future__ import annotations

import time
from collections.abc import Callable


def interleaved(contenders: dict[str, Callable[[], object]], *, rounds: int = 7, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each contender, run in alternation."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
