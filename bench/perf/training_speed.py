"""Training throughput: rarewatch's train_detector against a plain Keras fit of the same model."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.perf.fixtures import BenchModel, synthetic_frame
from bench.perf.timing import in_turn
from models.data import Dataset, select
from models.spec import TrainingOptions
from models.training import train_detector


@dataclass(frozen=True)
class TrainingResult:
    path: str
    windows_per_s: float  # median over epochs after the first (which traces the graph)
    wall_s: float  # the whole call, data preparation and (for rarewatch) ONNX export included


def measure(model: BenchModel, n_rows: int, epochs: int, rounds: int = 2) -> list[TrainingResult]:
    """Both paths `rounds` times, in alternating order (ours first, then plain Keras first...):
    whichever trains first in a process pays for TensorFlow's start, and the machine's speed
    drifts; per-epoch times are pooled over the rounds before the median."""
    data = select(synthetic_frame(n_rows, model.n_features, seed=1))
    options = model.options(epochs).changed(patience=epochs + 1)
    epochs_of: dict[str, list[float]] = {OURS: [], PLAIN: []}
    walls: dict[str, list[float]] = {OURS: [], PLAIN: []}
    n_windows = 0
    for round_ in range(rounds):
        for path in in_turn((OURS, PLAIN), round_):
            started = time.perf_counter()
            if path == OURS:
                seconds, n_windows = _ours(data, options)
            else:
                seconds = _plain_keras(model, data.values, options, n_windows or None)
            walls[path].append(time.perf_counter() - started)
            epochs_of[path] += seconds[1:] or seconds  # the first epoch traces the graph
    return [
        TrainingResult(path, n_windows / statistics.median(epochs_of[path]), min(walls[path]))
        for path in (OURS, PLAIN)
    ]


OURS, PLAIN = "rarewatch train_detector", "plain Keras fit"


def _ours(data: Dataset, options: TrainingOptions) -> tuple[list[float], int]:
    """Seconds per epoch of train_detector, and how many training windows it fitted on."""
    epoch_seconds: list[float] = []

    def on_epoch(epoch: int, total: int, loss: float, val: float, per_epoch: float) -> None:
        epoch_seconds.append(per_epoch * epoch - sum(epoch_seconds))

    trained = train_detector(data, options, on_epoch)
    return epoch_seconds, trained.spec.training.train_windows


def _plain_keras(
    model: BenchModel, values: np.ndarray, options: TrainingOptions, n_windows: int | None
) -> list[float]:
    """The same network, optimizer, batch size and windows, fitted the textbook way: the LSTMs
    rolled, as the article writes them (rarewatch trains them unrolled: models.network)."""
    import keras

    from models.network import build_network

    train, valid = scaled_windows(values, model.lookback, options.validation_fraction)
    # as many windows as rarewatch fits on (all when ours has not run yet: the same count,
    # since the synthetic data has no labels to exclude)
    train = train[:n_windows]
    keras.utils.set_random_seed(0)
    network = build_network(options.network, model.lookback, model.n_features)
    return fit_epoch_seconds(network, train, valid, options)


def scaled_windows(
    values: np.ndarray, lookback: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows of `values`, standard-scaled, the last
    `validation_fraction` of the rows validating (train_detector's split, without labels)."""
    from models.windows import temporalize

    scaled = ((values - values.mean(0)) / values.std(0)).astype("float32")
    split = len(values) - round(len(values) * validation_fraction)
    train = np.ascontiguousarray(temporalize(scaled[:split], lookback))
    return train, np.ascontiguousarray(temporalize(scaled[split:], lookback))


def fit_epoch_seconds(
    network: Any, train: np.ndarray, valid: np.ndarray, options: TrainingOptions
) -> list[float]:
    """Compile and fit `network` to reconstruct `train` as train_detector does (Adam, MSE,
    shuffled batches, validation loss each epoch); each epoch's seconds as train_detector's
    progress reports them: from the end of the one before (the start of training for the
    first, which traces the graph) to its own end."""
    import keras

    epoch_seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            epoch_seconds.append(now - self.last)
            self.last = now

    network.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="mse")
    network.fit(
        train,
        train,
        validation_data=(valid, valid),
        epochs=options.epochs,
        batch_size=options.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[Timer()],
    )
    return epoch_seconds
