"""Export a trained Keras network to ONNX and check it reconstructs as Keras does."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import RarewatchError

# The ONNX graph must match Keras within this fraction of the output's scale.
EXPORT_TOLERANCE = 1e-5


class ExportMismatch(RarewatchError):
    code = "onnx_export_mismatch"


def export_onnx(network: Any, check_windows: np.ndarray) -> bytes:
    """The network as ONNX bytes, verified on `check_windows` (n, lookback, n_features)."""
    import onnxruntime

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # keras' tf2onnx bridge probes `np.object`, which NumPy 2 answers with a FutureWarning
        warnings.simplefilter("ignore", FutureWarning)
        path = Path(folder) / "model.onnx"
        network.export(str(path), format="onnx", verbose=False)
        onnx_bytes = path.read_bytes()
    windows = np.ascontiguousarray(check_windows, dtype=np.float32)
    expected = np.asarray(network(windows, training=False))
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: windows})[0]
    scale = max(float(np.abs(expected).max()), 1.0)
    worst = float(np.abs(actual - expected).max())
    if worst > EXPORT_TOLERANCE * scale:
        raise ExportMismatch(
            f"the ONNX export differs from Keras by {worst:.3g} "
            f"(allowed {EXPORT_TOLERANCE * scale:.3g})"
        )
    return onnx_bytes
