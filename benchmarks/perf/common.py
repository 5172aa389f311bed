"""Timing helper shared by the perf benchmarks (run them as `python benchmarks/perf/<name>.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(*fns: Callable[[], object], repeat: int = 3) -> list[float]:
    """Best wall time in seconds of each function over `repeat` rounds, after one warm-up call each.

    The functions take turns within every round, so a slow phase of a shared machine hits them alike.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, series in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            series.append(time.perf_counter() - start)
    return [min(series) for series in times]
