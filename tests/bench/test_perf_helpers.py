"""The performance benchmark's own arithmetic (its runs are in CI's `make bench-perf-quick`)."""

from __future__ import annotations

import dataclasses
import mmap
import os
import subprocess
import sys
import time

from bench.perf.fixtures import SEED
from bench.perf.http import LoadResult, Server, median_round, wait_until_idle


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


def test_a_process_counts_the_pages_it_touches_and_its_cpu_time() -> None:
    server = Server("http://127.0.0.1:1", os.getpid())
    faults, cpu = server.minor_faults(), server.cpu_s()
    pages = 2048
    with mmap.mmap(-1, pages * mmap.PAGESIZE) as fresh:  # a new mapping: no page is there yet
        for page in range(pages):
            fresh[page * mmap.PAGESIZE] = 1
    assert server.minor_faults() - faults >= pages
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert server.cpu_s() > cpu


def test_waiting_for_idle_servers_tells_idle_from_busy() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_until_idle([Server("", idle.pid)], timeout_s=5)
        assert not wait_until_idle([Server("", busy.pid)], window_s=0.2, timeout_s=1)
    finally:
        for process in (idle, busy):
            process.kill()
            process.wait()


def test_the_unroll_sweep_fits_both_ways_and_marks_the_lookbacks_training_unrolls() -> None:
    from bench.perf import unroll
    from models.network import UNROLL_MAX_LOOKBACK

    tiny = dataclasses.replace(SEED, units=(4, 2))
    results = [
        unroll.measure(tiny, lookback, 120, 2, 1) for lookback in (2, UNROLL_MAX_LOOKBACK + 1)
    ]
    for result in results:
        assert set(result.windows_per_s) == set(result.first_epoch_s) == {False, True}
        assert all(speed > 0 for speed in result.windows_per_s.values())
    rows = unroll.table(results).splitlines()[2:]
    assert [row.split(" | ")[1:3] for row in rows] == [
        ["2", "yes"],
        [str(UNROLL_MAX_LOOKBACK + 1), "no"],
    ]


def test_paths_take_turns_going_first() -> None:
    from bench.perf.timing import in_turn

    assert [in_turn(("a", "b", "c"), round_) for round_ in range(3)] == [
        ["a", "b", "c"],
        ["c", "b", "a"],
        ["a", "b", "c"],
    ]
