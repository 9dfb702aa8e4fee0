"""Where unrolling the LSTMs pays for training: the same fit rolled and unrolled, per lookback.

    python -m bench.perf.unroll [--quick]

Training unrolls the LSTMs for lookbacks up to models.network.UNROLL_MAX_LOOKBACK. This
measures the trade behind that bound: for the article and the seed model at lookbacks on both
sides of it, the same network (same seed, windows and options as the training benchmark) is
fitted rolled and unrolled, in alternating order, each `rounds` times. Windows/s: median over
the epochs after the first; the first epoch's seconds are given apart (they include tracing the
graph, which takes longer with every unrolled step). Prints a markdown table with the commit
and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
from dataclasses import dataclass

from bench.perf.fixtures import ARTICLE, SEED, BenchModel, synthetic_frame
from bench.perf.timing import in_turn
from bench.perf.training_speed import fit_epoch_seconds, scaled_windows
from bench.report import git_commit
from models.data import select
from models.network import UNROLL_MAX_LOOKBACK


@dataclass(frozen=True)
class UnrollResult:
    model: BenchModel
    lookback: int
    windows_per_s: dict[bool, float]  # unrolled? -> median windows/s per epoch after the first
    first_epoch_s: dict[bool, float]  # unrolled? -> median seconds of the first epoch


def measure(
    model: BenchModel, lookback: int, n_rows: int, epochs: int, rounds: int
) -> UnrollResult:
    import keras

    from models.network import build_network

    options = model.options(epochs).changed(lookback=lookback)
    values = select(synthetic_frame(n_rows, model.n_features, seed=1)).values
    train, valid = scaled_windows(values, lookback, options.validation_fraction)
    later: dict[bool, list[float]] = {False: [], True: []}
    first: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds):
        for unroll in in_turn((False, True), round_):
            keras.utils.set_random_seed(0)
            network = build_network(options.network, lookback, model.n_features, unroll=unroll)
            seconds = fit_epoch_seconds(network, train, valid, options)
            first[unroll].append(seconds[0])
            later[unroll] += seconds[1:] or seconds
    return UnrollResult(
        model,
        lookback,
        {unroll: len(train) / statistics.median(later[unroll]) for unroll in (False, True)},
        {unroll: statistics.median(first[unroll]) for unroll in (False, True)},
    )


def table(results: list[UnrollResult]) -> str:
    lines = [
        "| model | lookback | training unrolls | windows/s rolled | unrolled | ratio "
        "| first epoch s rolled | unrolled |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rolled, unrolled = r.windows_per_s[False], r.windows_per_s[True]
        lines.append(
            f"| {r.model.name} ({r.model.n_features} features, units "
            f"{'-'.join(map(str, r.model.units))}) | {r.lookback} "
            f"| {'yes' if r.lookback <= UNROLL_MAX_LOOKBACK else 'no'} "
            f"| {rolled:,.0f} | {unrolled:,.0f} | {unrolled / rolled:.2f}x "
            f"| {r.first_epoch_s[False]:.1f} | {r.first_epoch_s[True]:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    args = parser.parse_args()
    from models.tensorflow_import import import_tensorflow

    import_tensorflow().config.experimental.enable_op_determinism()  # as fit_network trains
    if args.quick:
        lookbacks, n_rows, epochs, rounds = (2, UNROLL_MAX_LOOKBACK + 1), 200, 2, 1
    else:
        lookbacks = (5, 10, UNROLL_MAX_LOOKBACK, 2 * UNROLL_MAX_LOOKBACK)
        n_rows, epochs, rounds = 5_000, 4, 2
    results = [
        measure(model, lookback, n_rows, epochs, rounds)
        for model in (ARTICLE, SEED)
        for lookback in lookbacks
    ]
    print(
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {git_commit()} with "
        f"`python -m bench.perf.unroll{' --quick' if args.quick else ''}`: {n_rows:,} rows of "
        f"synthetic data, {epochs} epochs, batch 64, each path {rounds} time(s), alternating.\n"
    )
    print(table(results))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
