"""Small timing helpers: medians of repeated runs, bounded by a time budget."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], budget_s: float = 1.0, min_runs: int = 5) -> float:
    """Median wall time of `run`, repeated until `budget_s` is spent (at least min_runs times)."""
    run()  # warm-up, not counted
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_runs or time.perf_counter() < deadline:
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        if len(times) >= 10_000:
            break
    return statistics.median(times)
