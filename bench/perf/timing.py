"""Timing helpers: medians of repeated runs, bounded by a time budget.

These machines are shared and noisy, so paths that are compared are timed interleaved (a short
block of calls of each in turn, round after round): a slow spell then hits every path alike, and
the ratio of their medians holds where separate timings drift apart.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def interleaved_medians(
    runs: dict[str, Callable[[], object]],
    budget_s: float = 1.0,
    min_rounds: int = 5,
    block_s: float = 0.25,
    settle_s: float = 0.05,
) -> dict[str, float]:
    """Median wall time of each run, timed in turn, block after block, until `budget_s` is spent.

    Each round gives every run a block of calls (`block_s`, at least one call), after a pause of
    `settle_s`. Blocks, not single calls, because one path slows the next for a while: ONNX
    Runtime's default thread pool keeps spinning after a call, sharing the cores with whatever
    runs next: in blocks of a few calls, the path timed after a default session looked far
    slower than it is when timed alone.
    """
    for run in runs.values():
        run()  # warm-up, not counted
    times: dict[str, list[float]] = {name: [] for name in runs}
    deadline = time.perf_counter() + budget_s
    rounds = 0
    while (rounds < min_rounds or time.perf_counter() < deadline) and rounds < 10_000:
        for name, run in runs.items():
            time.sleep(settle_s)
            block_end = time.perf_counter() + block_s
            while True:
                started = time.perf_counter()
                run()
                finished = time.perf_counter()
                times[name].append(finished - started)
                if finished >= block_end:
                    break
        rounds += 1
    return {name: statistics.median(samples) for name, samples in times.items()}


def in_turn(paths: Sequence[T], round_: int) -> list[T]:
    """`paths` in round `round_`'s order: as given in even rounds, reversed in odd ones, so that
    over an even count of rounds each path comes first (paying for whatever ran before it:
    TensorFlow's start, a busy pool) as often as the other."""
    return list(paths) if round_ % 2 == 0 else list(reversed(paths))
