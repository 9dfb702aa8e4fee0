"""Training throughput: rarewatch's train_detector against a plain Keras fit of the same model."""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import numpy as np

from bench.perf.fixtures import BenchModel, synthetic_frame
from models.data import select
from models.training import train_detector


@dataclass(frozen=True)
class TrainingResult:
    path: str
    windows_per_s: float  # median over epochs after the first (which traces the graph)
    wall_s: float  # the whole call, data preparation and (for rarewatch) ONNX export included


def measure(model: BenchModel, n_rows: int, epochs: int) -> list[TrainingResult]:
    data = select(synthetic_frame(n_rows, model.n_features, seed=1))
    options = dataclasses.replace(model.options(epochs), patience=epochs + 1)
    epoch_seconds: list[float] = []

    def on_epoch(epoch: int, total: int, loss: float, val: float, per_epoch: float) -> None:
        epoch_seconds.append(per_epoch * epoch - sum(epoch_seconds))

    started = time.perf_counter()
    trained = train_detector(data, options, on_epoch)
    ours_wall = time.perf_counter() - started
    n_windows = trained.spec.training.train_windows
    ours = TrainingResult("rarewatch train_detector", _per_s(n_windows, epoch_seconds), ours_wall)
    return [ours, _plain_keras(model, data.values, options, n_windows)]


def _plain_keras(model: BenchModel, values: np.ndarray, options, n_windows: int) -> TrainingResult:  # type: ignore[no-untyped-def]
    """The same network, optimizer, batch size and windows, fitted the textbook way."""
    import keras

    from models.network import build_network
    from models.windows import temporalize

    started = time.perf_counter()
    scaled = ((values - values.mean(0)) / values.std(0)).astype("float32")
    split = len(values) - round(len(values) * options.validation_fraction)
    train = np.ascontiguousarray(temporalize(scaled[:split], model.lookback))[:n_windows]
    valid = np.ascontiguousarray(temporalize(scaled[split:], model.lookback))
    keras.utils.set_random_seed(0)
    network = build_network(options.network, model.lookback, model.n_features)
    network.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="mse")
    epoch_seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            epoch_seconds.append(time.perf_counter() - self.began)

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
    return TrainingResult(
        "plain Keras fit", _per_s(n_windows, epoch_seconds), time.perf_counter() - started
    )


def _per_s(n_windows: int, epoch_seconds: list[float]) -> float:
    steady = epoch_seconds[1:] or epoch_seconds
    return n_windows / statistics.median(steady)
