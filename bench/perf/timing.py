"""Timing helpers: medians of repeated runs, bounded by a time budget.

These machines are shared and noisy, so paths that are compared are timed interleaved (one call
of each in turn, round after round): a slow spell then hits every path alike, and the ratio of
their medians holds where separate timings drift apart.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], budget_s: float = 1.0, min_runs: int = 5) -> float:
    """Median wall time of `run`, repeated until `budget_s` is spent (at least min_runs times)."""
    return interleaved_medians({"run": run}, budget_s, min_runs)["run"]


def interleaved_medians(
    runs: dict[str, Callable[[], object]], budget_s: float = 1.0, min_rounds: int = 5
) -> dict[str, float]:
    """Median wall time of each run, timed in turn round after round until `budget_s` is spent."""
    for run in runs.values():
        run()  # warm-up, not counted
    times: dict[str, list[float]] = {name: [] for name in runs}
    deadline = time.perf_counter() + budget_s
    rounds = 0
    while (rounds < min_rounds or time.perf_counter() < deadline) and rounds < 10_000:
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
        rounds += 1
    return {name: statistics.median(samples) for name, samples in times.items()}
