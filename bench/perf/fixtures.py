"""The two models the performance benchmark measures, trained briefly on synthetic data.

Speed does not depend on what the weights learned, so one epoch on random-walk data is enough
to get real artifacts (scaler, threshold, ONNX graph) of the right shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.artifact import ModelStore
from models.data import select
from models.detector import Detector
from models.spec import Activation, NetworkConfig, TrainingOptions
from models.training import store_trained, train_detector


@dataclass(frozen=True)
class BenchModel:
    name: str
    lookback: int
    n_features: int
    units: tuple[int, ...]
    activation: Activation

    @property
    def label(self) -> str:
        units = "-".join(map(str, self.units))
        return f"{self.name} ({self.lookback} x {self.n_features}, units {units})"

    def options(self, epochs: int = 1) -> TrainingOptions:
        network = NetworkConfig(units=self.units, activation=self.activation)
        return TrainingOptions(lookback=self.lookback, epochs=epochs, network=network, seed=0)

    def flops_per_window(self) -> int:
        """Multiply-adds x 2 of the LSTM gates and the output Dense layer (activations ignored)."""
        layers = list(self.units) + list(reversed(self.units))
        inputs = [self.n_features, *layers[:-1]]
        lstm = sum(2 * 4 * u * (i + u) for i, u in zip(inputs, layers, strict=True))
        dense = 2 * layers[-1] * self.n_features
        return self.lookback * (lstm + dense)


ARTICLE = BenchModel("article", 5, 59, (32, 16), Activation.RELU)
SEED = BenchModel("seed", 3, 2, (128, 64), Activation.RELU)


def synthetic_frame(n_rows: int, n_features: int, seed: int = 0) -> pd.DataFrame:
    walk = np.random.default_rng(seed).normal(size=(n_rows, n_features)).cumsum(axis=0)
    return pd.DataFrame(walk, columns=[f"x{i + 1}" for i in range(n_features)])


def train_bench_model(store_root: Path, model: BenchModel, n_rows: int = 2000) -> ModelStore:
    store = ModelStore(store_root)
    data = select(synthetic_frame(n_rows, model.n_features))
    trained = train_detector(data, model.options())
    store_trained(store, model.name, trained)
    return store


def plain_path(detector: Detector) -> Detector:
    """The same model and engine without the fused scoring graph: numpy around the network."""
    return Detector(detector.name, detector.version, detector.spec, detector.engine)
