"""Inference engines: reconstruct windows without model.predict's per-call overhead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

# Large inputs are reconstructed in chunks so that memory stays bounded whatever the request.
MAX_BATCH = 8192


class Engine(Protocol):
    name: str

    def reconstruct(self, windows: np.ndarray) -> np.ndarray:
        """windows  # (n_windows, lookback, n_features) float32 -> same shape"""
        ...


class TensorFlowEngine:
    """A tf.function traced once with a fixed input signature (any batch size, no retracing).

    model.predict costs 70-120 ms per call here even for one window; this costs ~2 ms.
    """

    name = "tensorflow"

    def __init__(self, model: Callable[..., Any], lookback: int, n_features: int) -> None:
        from models.tensorflow_import import import_tensorflow

        tf = import_tensorflow()

        signature = [tf.TensorSpec(shape=(None, lookback, n_features), dtype=tf.float32)]
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=signature)
        self._shape = (lookback, n_features)

    def reconstruct(self, windows: np.ndarray) -> np.ndarray:
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if len(windows) <= MAX_BATCH:
            return self._forward(windows).numpy()
        return np.concatenate(
            [
                self._forward(windows[i : i + MAX_BATCH]).numpy()
                for i in range(0, len(windows), MAX_BATCH)
            ]
        )

    def warm_up(self) -> None:
        self.reconstruct(np.zeros((1, *self._shape), dtype=np.float32))
