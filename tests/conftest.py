"""Shared fixtures: synthetic series and one tiny real model trained once per test session."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import numpy as np
import pandas as pd
import pytest

from models.artifact import ModelStore
from models.data import Dataset, select
from models.spec import NetworkConfig, TrainingOptions
from models.training import store_trained, train_detector

TINY_FEATURES = ["a", "b", "c"]
TINY_LOOKBACK = 4
# the fault injected into tiny series: feature "c" jumps by this many of its normal spreads
FAULT_FEATURE = "c"


def tiny_frame(n_rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three correlated sensors on a slow cycle with a little noise, all normal."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    a = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, n_rows)
    b = 0.5 * a + rng.normal(0, 0.05, n_rows)
    c = np.cos(2 * np.pi * t / 50) + rng.normal(0, 0.05, n_rows)
    times = pd.date_range("2026-01-01", periods=n_rows, freq="min", tz="UTC")
    return pd.DataFrame(
        {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "a": a, "b": b, "c": c, "y": 0}
    )


def with_fault(frame: pd.DataFrame, start: int, length: int = 6, size: float = 4.0) -> pd.DataFrame:
    """A copy of `frame` where feature c jumps by `size` for `length` rows, labelled y = 1."""
    faulty = frame.copy()
    rows = slice(start, start + length)
    faulty.loc[faulty.index[rows], FAULT_FEATURE] += size
    faulty.loc[faulty.index[rows], "y"] = 1
    return faulty


TINY_OPTIONS = TrainingOptions(
    lookback=TINY_LOOKBACK,
    epochs=25,
    batch_size=32,
    validation_fraction=0.25,
    seed=1,
    learning_rate=5e-3,
    network=NetworkConfig(units=(8, 4)),
)


def tiny_training_flags(epochs: int) -> list[str]:
    """The command line's flags for a tiny, quiet fit (`train`, `train-fleet`)."""
    fit = f"--lookback {TINY_LOOKBACK} --epochs {epochs} --units 8,4 --batch-size 32 --quiet"
    return fit.split()


@dataclass(frozen=True)
class TinyModel:
    store: ModelStore
    name: str
    frame: pd.DataFrame  # the data it was trained on


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    return select(tiny_frame(), time_column="time", label_column="y")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Dataset) -> TinyModel:
    """A real LSTM autoencoder (8-4 units, lookback 4, 3 features) trained once per session."""
    root: Path = tmp_path_factory.mktemp("artifacts")
    store = ModelStore(root)
    store_trained(store, "tiny", train_detector(tiny_dataset, TINY_OPTIONS))
    return TinyModel(store, "tiny", tiny_frame())


# No test asserts a time: hypothesis' per-example deadline (200 ms) failed a property test on a
# busy 2-core machine, so it is off for every test; examples come from a fixed seed.
hypothesis.settings.register_profile("rarewatch", deadline=None, derandomize=True)
hypothesis.settings.load_profile("rarewatch")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh interpreter in the repository's root (what it imports starts from
    nothing), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
