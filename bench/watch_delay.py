"""The watch's detection delay and false alarms, replayed tick by tick in simulated time.

    python -m bench.watch_delay [--features 10] [--step 15] [--faults 20] [--jumps 1 2 3]
                                [--train-hours 8] [--epochs 10] [--quick]
                                [--write docs/benchmarks.md]

One small model (lookback 5) is trained with models.training.train_detector on a fault-free
stretch of bench.watch_load's sensors (its waves, with Gaussian noise added), one row per --step
seconds. Then each tick is scored as the watch scores it: app.watch.tick's own scoring of a tick,
given the rows a Prometheus range query would answer (app.watch.tick.rows_needed of them, up to
the tick's grid point), read from the generated rows instead of Prometheus, and the score read
back from the watch's exported rarewatch_anomaly_score and rarewatch_is_anomaly.

(a) A fault-free hour right after the training stretch: the ticks with a score above 1 per hour,
    and the episodes of them (runs of consecutive ticks) per hour; the same for the alarm rule.
(b) --faults faults, each on its own stretch at a random time of the day after training: one
    random feature jumps by k times its standard deviation on the training stretch (each k of
    --jumps, the same faults otherwise) and stays there; the delay is the number of ticks from
    the fault's first row to the first tick scored above 1 (0: the tick of that row); a fault
    not caught within HORIZON ticks is a miss.
Seeds are fixed: the same arguments give the same figures on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from app.watch.config import WatchedModel
from app.watch.exporter import WatchMetrics
from app.watch.prometheus import Rows
from app.watch.tick import Watched, rows_needed, score_up_to
from bench.load.common import check_lines, publish
from bench.perf.fixtures import BenchModel
from bench.watch_load import sensor_phases, sensor_values
from models.data import select
from models.detector import Detector
from models.spec import Activation
from models.training import train_detector
from models.wording import plural

START = 1_767_225_600.0  # 2026-01-01T00:00Z: the training stretch's first row
NOISE = 0.3  # the noise's standard deviation, added to waves of amplitude 3
HORIZON = 40  # ticks after a fault's first row; not caught by then is a miss
NAME = "delay"


def generated(start: float, n_rows: int, step: float, phases: np.ndarray, seed: int) -> np.ndarray:
    """The sensors at `n_rows` grid points from `start`, with noise: (n_rows, n_features)."""
    times = start + step * np.arange(n_rows)[:, None]
    noise = np.random.default_rng(seed).normal(0, NOISE, (n_rows, len(phases)))
    return sensor_values(times, phases) + noise


@dataclass(frozen=True)
class Replay:
    """Generated rows answered as PrometheusReader.rows answers a range query (a RowReader, as
    the tick takes): row 0 at `start`, one every `step` seconds."""

    start: float
    values: np.ndarray  # (n_rows, n_features)
    step: float

    async def rows(
        self, watched: WatchedModel, features: list[str], end: float, n_rows: int
    ) -> Rows:
        last = round((end - self.start) / self.step)
        first = last - n_rows + 1
        if first < 0 or last >= len(self.values):
            raise ValueError(f"rows {first}..{last} are outside the {len(self.values)} generated")
        offsets = np.arange(first, last + 1, dtype=np.int64) * round(self.step * 1e9)
        times = np.datetime64(round(self.start * 1e9), "ns") + offsets.astype("timedelta64[ns]")
        return Rows(times, self.values[first : last + 1].copy())


@dataclass
class Scored:
    """Each replayed tick's exported score (/ threshold) and alarm; ticks left unscored."""

    scores: list[float]
    alarms: list[bool]
    unscored: int = 0


async def replay(
    detector: Detector, values: np.ndarray, start: float, step: float, ticks: range
) -> Scored:
    """Ticks at the rows `ticks` of `values` (row 0 at `start`), scored by the watch's tick."""
    config = WatchedModel(
        model=NAME, query="bench_sensor", feature_label="feature", step=step, infer_every=step
    )
    watched, reader, metrics = (
        Watched(config, detector),
        Replay(start, values, step),
        WatchMetrics(),
    )
    scored = Scored([], [])
    for row in ticks:
        if await score_up_to(watched, reader, metrics, start + row * step) is not None:
            scored.unscored += 1
            continue
        score = metrics.registry.get_sample_value("rarewatch_anomaly_score", {"model": NAME})
        alarm = metrics.registry.get_sample_value("rarewatch_is_anomaly", {"model": NAME})
        scored.scores.append(float(score or 0.0))
        scored.alarms.append(bool(alarm))
    return scored


def episodes(flags: np.ndarray) -> int:
    """Runs of consecutive True."""
    return int(np.count_nonzero(flags[1:] & ~flags[:-1]) + (len(flags) > 0 and flags[0]))


def first_tick(flags: list[bool]) -> int | None:
    return next((i for i, flag in enumerate(flags) if flag), None)


def delay_row(what: str, delays: list[int | None]) -> str:
    caught = [d for d in delays if d is not None]
    if caught:
        p50, p90 = np.percentile(caught, [50, 90])
        figures = f"{p50:.1f} | {p90:.1f} | {max(caught)}"
    else:
        figures = "- | - | -"
    return f"| {what} | {figures} | {len(delays) - len(caught)} / {len(delays)} |"


def measure(args: argparse.Namespace) -> tuple[list[str], bool]:
    step = args.step
    phases = sensor_phases(1, args.features)[0]
    train_rows = round(args.train_hours * 3600 / step)
    training = generated(START, train_rows, step, phases, seed=0)
    features = [f"x{i + 1}" for i in range(args.features)]
    model = BenchModel(NAME, 5, args.features, (16, 8), Activation.RELU)
    trained = train_detector(
        select(pd.DataFrame(training, columns=features)), model.options(args.epochs)
    )
    detector = Detector.from_trained(trained, NAME)
    needed = rows_needed(detector)
    spread = training.std(axis=0)

    # (a) the fault-free hour after the training stretch (its first tick has all its rows in it)
    hour_ticks = round(args.hour_s / step)
    start = START + train_rows * step
    quiet = generated(start, needed - 1 + hour_ticks, step, phases, seed=1)
    calm = asyncio.run(replay(detector, quiet, start, step, range(needed - 1, len(quiet))))
    per_hour = 3600 / (len(calm.scores) * step) if calm.scores else 0.0
    above, alarms = np.array(calm.scores) > 1, np.array(calm.alarms, dtype=bool)

    # (b) faults: a random time of the day after training, a random feature, a lasting jump
    rng = np.random.default_rng(2)
    faults = [
        (
            START + (train_rows + int(rng.integers(0, round(86400 / step)))) * step,
            int(rng.integers(args.features)),
        )
        for _ in range(args.faults)
    ]
    unscored = calm.unscored
    rows: list[str] = []
    for jump in args.jumps:
        delays: list[int | None] = []
        alarm_delays: list[int | None] = []
        for k, (at, feature) in enumerate(faults):
            values = generated(at, needed + HORIZON, step, phases, seed=10 + k)
            values[needed:, feature] += jump * spread[feature]
            ticks = range(needed, needed + HORIZON)
            faulty = asyncio.run(replay(detector, values, at, step, ticks))
            unscored += faulty.unscored
            delays.append(first_tick([s > 1 for s in faulty.scores]))
            alarm_delays.append(first_tick(faulty.alarms))
        rows += [
            delay_row(f"jump {jump:g} sd, to score > 1", delays),
            delay_row(f"jump {jump:g} sd, to alarm", alarm_delays),
        ]

    spec = detector.spec
    lines = [
        f"One model (lookback {spec.lookback}, {args.features} features, units 16-8, "
        f"{plural(args.epochs, 'epoch')}, alarm_after {spec.alarm_after}, "
        f"smoothing {spec.smoothing}) "
        f"trained on {args.train_hours:g} h of bench.watch_load's sensor waves (amplitude 3) "
        f"plus noise (sd {NOISE}) at a {step:g} s step ({train_rows:,} rows); each tick scored "
        f"by the watch's own tick scoring on its {needed} rows, in simulated time.",
        "",
        f"Fault-free stretch: {len(calm.scores):,} ticks ({len(calm.scores) * step / 60:g} min) "
        "right after the training stretch.",
        "",
        "| per hour | ticks | episodes |",
        "|---|---:|---:|",
        f"| score > 1 | {above.sum() * per_hour:.1f} | {episodes(above) * per_hour:.1f} |",
        f"| alarm (the model's alarm rule) | {alarms.sum() * per_hour:.1f} | "
        f"{episodes(alarms) * per_hour:.1f} |",
        "",
        f"{args.faults} faults, each one random feature jumping by k of its training "
        "standard deviations and staying there, at a random time of the day after training; "
        f"delay in ticks from the fault's first row (0: that row's own tick), a miss when not "
        f"caught within {HORIZON} ticks.",
        "",
        "| delay (ticks) | median | p90 | max | missed |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        *check_lines({"every replayed tick scored": unscored == 0}),
    ]
    return lines, unscored == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--step", type=float, default=15, help="seconds between rows and ticks")
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument(
        "--jumps", type=float, nargs="+", default=[1, 2, 3], help="in training standard deviations"
    )
    parser.add_argument("--train-hours", type=float, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--quick", action="store_true", help="tiny: 3 features, 1 h training, 2 faults"
    )
    parser.add_argument("--write", type=Path, help="replace this section of the file")
    args = parser.parse_args()
    args.hour_s = 3600
    if args.quick:
        args.features, args.faults, args.train_hours, args.epochs = 3, 2, 1, 1
        args.hour_s = 300
    lines, passed = measure(args)
    markers = ("<!-- watch-delay:start -->", "<!-- watch-delay:end -->")
    section = (markers, "## The watch's detection delay and false alarms (issue 19)\n\n")
    publish(
        "bench.watch_delay", lines, passed, args.write, section, "", "simulated time, no server"
    )


if __name__ == "__main__":
    main()
