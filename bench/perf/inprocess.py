"""In-process scoring throughput: rarewatch's engines and Detector against a raw ORT session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime

from bench.perf.fixtures import BenchModel, plain_path
from bench.perf.timing import interleaved_medians
from models.artifact import ModelStore
from models.loading import load_detector

BATCH_SIZES = (1, 32, 1024, 16384)


@dataclass(frozen=True)
class Row:
    model: str
    batch: int
    path: str
    windows_per_s: float
    gflops: float


def measure(
    store: ModelStore, model: BenchModel, batch_sizes=BATCH_SIZES, budget_s: float = 1.0
) -> list[Row]:
    onnx = load_detector(store, model.name, engine="onnx")
    tensorflow = load_detector(store, model.name, engine="tensorflow")
    plain = plain_path(onnx)
    # The floor: a session with ONNX Runtime's default options (a thread per core inside each
    # call), fed ready-made contiguous windows, as anyone would run the exported graph. The
    # engine's own session runs single-threaded calls side by side instead.
    raw = onnxruntime.InferenceSession(
        store.open(model.name).onnx(), providers=["CPUExecutionProvider"]
    )
    raw_input = raw.get_inputs()[0].name
    rng = np.random.default_rng(0)
    rows = []
    for batch in batch_sizes:
        windows = rng.normal(size=(batch, model.lookback, model.n_features)).astype(np.float32)
        series = rng.normal(size=(batch + model.lookback - 1, model.n_features))
        onnx_paths = {
            "raw ONNX Runtime session": lambda w=windows: raw.run(None, {raw_input: w}),
            "OnnxEngine.reconstruct": lambda w=windows: onnx.engine.reconstruct(w),
            "Detector.detect (onnx)": lambda s=series: onnx.detect(s),
            "Detector.detect (onnx), plain path": lambda s=series: plain.detect(s),
        }
        tensorflow_paths = {
            "TensorFlowEngine.reconstruct": lambda w=windows: tensorflow.engine.reconstruct(w),
            "Detector.detect (tensorflow)": lambda s=series: tensorflow.detect(s),
        }
        # The paths of one engine are timed interleaved, so their ratios survive a noisy machine;
        # the two engines apart, since TensorFlow's lingering threads slow ONNX Runtime's calls.
        medians = {}
        for paths in (onnx_paths, tensorflow_paths):
            medians |= interleaved_medians(
                paths, budget_s * len(paths), block_s=min(0.25, budget_s / 4)
            )
        for path, seconds in medians.items():
            per_s = batch / seconds
            rows.append(
                Row(model.label, batch, path, per_s, per_s * model.flops_per_window() / 1e9)
            )
    return rows
