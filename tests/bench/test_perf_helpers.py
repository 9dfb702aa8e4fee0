"""The performance benchmark's own arithmetic (its runs are in CI's `make bench-perf-quick`)."""

from __future__ import annotations

from bench.perf.http import LoadResult, median_round


def load(requests_per_s: float, errors: int = 0) -> LoadResult:
    return LoadResult(
        requests_per_s, p50_ms=requests_per_s / 1000, p99_ms=1.0, requests=10, errors=errors
    )


def test_the_median_round_keeps_its_own_latencies_and_counts_every_rounds_errors() -> None:
    rounds = [load(300.0, errors=1), load(100.0), load(200.0, errors=2)]
    middle = median_round(rounds)
    assert (middle.requests_per_s, middle.p50_ms) == (200.0, 0.2)
    assert middle.errors == 3


def test_an_even_count_of_rounds_gives_the_lower_middle_one() -> None:
    assert median_round([load(4.0), load(1.0), load(3.0), load(2.0)]).requests_per_s == 2.0
    assert median_round([load(7.0)]).requests_per_s == 7.0
