"""Faults to inject: a network that blocks until released, one that reconstructs NaN, and broken
copies of an artifact."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.artifact import MANIFEST_FILE, WEIGHTS_FILE, ModelStore
from models.detector import Detector
from models.engines import Engine

WAIT_S = 30.0


class GatedEngine(Engine):
    """Wraps a real engine; every reconstruction waits until the test opens the gate."""

    name = "gated"

    def __init__(self, inner: Engine, lookback: int, n_features: int) -> None:
        super().__init__(lookback, n_features)
        self.inner, self.gate, self.entered = inner, threading.Event(), 0

    def _run(self, windows: np.ndarray) -> np.ndarray:
        self.entered += 1
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        return self.inner.reconstruct(windows)


class NaNEngine(Engine):
    """A fault injected under the Detector: a network whose reconstruction is not finite."""

    name = "nan"

    def _run(self, windows: np.ndarray) -> np.ndarray:
        return np.full(windows.shape, np.nan, dtype=np.float32)


def gated(detector: Detector, name: str = "gated") -> tuple[Detector, GatedEngine]:
    """A copy of `detector` under another name whose network waits for the gate."""
    engine = GatedEngine(detector.engine, detector.lookback, len(detector.features))
    engine.gate.set()  # open while the copy is warmed up; the test closes it
    return Detector(name, detector.version, detector.spec, engine), engine


def copy_model(
    source: ModelStore, target: ModelStore, name: str, as_name: str | None = None
) -> int:
    """Write the newest version of `name` into `target` as a new version; returns the version."""
    stored = source.open(name)
    version, _ = target.write(as_name or name, stored.spec, stored.weights(), stored.onnx())
    return version


def break_artifact(folder: Path, fault: str) -> None:
    """missing: the weights are gone; truncated: cut in half; tampered: one byte flipped."""
    weights = folder / WEIGHTS_FILE
    data = weights.read_bytes()
    if fault == "missing":
        weights.unlink()
    elif fault == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif fault == "tampered":
        weights.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif fault == "no manifest":
        (folder / MANIFEST_FILE).unlink()
    else:
        raise ValueError(fault)


FAULTS = ["missing", "truncated", "tampered", "no manifest"]


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)
