"""Where in-process time goes: a large /detect's body and answer; the scoring around the network.

    python -m bench.perf.breakdown

For 10,000 rows x 59 features: the body read the ordinary way (orjson, the request schema, numpy)
against the simdjson fast path (app/api/numeric_body.py), and the answer written from a dict per
window (the plain way) against app/api/results_json.py. For 1,024 windows (the bulk goal's smallest
batch): `Detector.detect` on its fused path (models/onnx_scoring.py) and on the plain one, the
fused scoring graph and the bare network each on one thread, and the plain path's numpy steps.
Each group is timed interleaved in one process on a briefly trained article-sized model;
prints markdown tables with the commit and date.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import orjson

from app.api.body import parse_json, parse_rows_request
from app.api.inputs import rows_of
from app.api.responses import detection_body, top_contributions
from app.api.schemas import DetectRequest
from bench.perf.fixtures import ARTICLE, plain_path, train_bench_model
from bench.perf.timing import interleaved_medians
from bench.report import git_commit
from models import onnx_scoring
from models.artifact import ModelStore
from models.data_quality import judge
from models.detector import Detection, Detector
from models.engines import OnnxEngine
from models.loading import load_detector
from models.scoring import errors_from_squares, squared_errors
from models.windows import temporalize

ROWS = 10_000
SCORED_WINDOWS = 1_024
TOP_FEATURES = 3


def read_body(parse: Any, body: bytes, features: list[str]) -> np.ndarray:
    """The body to the detector's input array, as the route does after admission."""
    return rows_of(DetectRequest.model_validate(parse(body)), features, strict=False).values


def answer_as_dicts(detector: Detector, detection: Detection) -> bytes:
    """The plain way: a dict per window and per top feature, then orjson."""
    top, shares = top_contributions(detection.contributions, TOP_FEATURES)
    features = detector.features
    results = [
        {
            "index": row,
            "timestamp": None,
            "score": score,
            "is_anomaly": flag,
            "severity": severity,
            "top_features": [
                {"feature": features[f], "share": s} for f, s in zip(ids, values, strict=True)
            ],
        }
        for row, score, flag, severity, ids, values in zip(
            detection.window_end_rows.tolist(),
            detection.scores.tolist(),
            detection.is_anomaly.tolist(),
            detection.severity.tolist(),
            top.tolist(),
            shares.tolist(),
            strict=True,
        )
    ]
    return orjson.dumps({"results": results})


def scored_rows(detector: Detector, n_windows: int) -> np.ndarray:
    """Random rows that make `n_windows` windows, the same on every call."""
    n_rows = n_windows + detector.lookback - 1
    return np.random.default_rng(1).normal(size=(n_rows, len(detector.features)))


def fused_against_plain(detector: Detector, n_windows: int) -> tuple[float, float]:
    """The largest relative difference of the scores and absolute difference of the
    contributions between Detector.detect's fused path and its plain one, same rows."""
    values = scored_rows(detector, n_windows)
    plain = plain_path(detector)
    fused, reference = detector.detect(values), plain.detect(values)
    score_gap = np.abs(fused.scores - reference.scores) / np.abs(reference.scores)
    share_gap = np.abs(fused.contributions - reference.contributions)
    return float(score_gap.max()), float(share_gap.max())


def scoring_steps(detector: Detector, store: ModelStore, n_windows: int) -> dict[str, float]:
    """Median seconds of Detector.detect on `n_windows` windows, on its fused path and on the
    plain one, next to a default ONNX Runtime session, and of the steps inside, each on one
    thread, so that the scoring's cost can be set against the network's."""
    lookback = detector.lookback
    values = scored_rows(detector, n_windows)
    scaled = detector.scaler.transform(values)
    windows = np.ascontiguousarray(temporalize(scaled, lookback), dtype=np.float32)
    engine, row_scorer = detector.engine, detector.row_scorer
    assert isinstance(engine, OnnxEngine)
    assert row_scorer is not None
    plain = plain_path(detector)
    reconstructed = engine.session.run(None, {engine.session.get_inputs()[0].name: windows})[0]
    squares = squared_errors(windows, reconstructed)
    default = onnxruntime.InferenceSession(
        store.open(ARTICLE.name).onnx(), providers=["CPUExecutionProvider"]
    )
    name = default.get_inputs()[0].name
    steps = {
        "whole call: Detector.detect, fused scoring graph (both cores)": lambda: detector.detect(
            values
        ),
        "whole call: Detector.detect, plain path (both cores)": lambda: plain.detect(values),
        "whole call: a default ONNX Runtime session (both cores)": lambda: default.run(
            None, {name: windows}
        ),
        "the network on one thread (the engine's session, one call)": lambda: engine.session.run(
            None, {engine.session.get_inputs()[0].name: windows}
        ),
        "the fused scoring graph on one thread (rows in, errors out)": lambda: (
            row_scorer.session.run(None, {onnx_scoring.ROWS: values})
        ),
        "check the values are finite": lambda: np.isfinite(values).all(),
        "plain path: scale the rows (Scaler.transform)": lambda: detector.scaler.transform(values),
        "plain path: copy the windows out of the rows (float32)": lambda: np.ascontiguousarray(
            temporalize(scaled, lookback), dtype=np.float32
        ),
        "plain path: squared errors per feature": lambda: squared_errors(windows, reconstructed),
        "plain path: scores and contributions": lambda: errors_from_squares(squares, lookback),
    }
    return interleaved_medians(steps, budget_s=15, block_s=0.1)


def main() -> None:
    store = train_bench_model(Path(tempfile.mkdtemp(prefix="rarewatch-breakdown-")), ARTICLE)
    detector = load_detector(store, ARTICLE.name)
    values = np.random.default_rng(0).normal(size=(ROWS, ARTICLE.n_features))
    body = orjson.dumps({"values": values.tolist()})
    features = detector.features
    np.testing.assert_array_equal(
        read_body(parse_json, body, features), read_body(parse_rows_request, body, features)
    )
    reading = interleaved_medians(
        {
            "orjson + schema + numpy": lambda: read_body(parse_json, body, features),
            "simdjson fast path": lambda: read_body(parse_rows_request, body, features),
        },
        budget_s=6,
        block_s=0.25,
    )
    detection = detector.detect(values)
    verdict = judge(detector.training_stats, detector.lookback, values, detection)
    writing = interleaved_medians(
        {
            "a dict per window, then orjson": lambda: answer_as_dicts(detector, detection),
            "app/api/results_json.py, then orjson": lambda: orjson.dumps(
                detection_body(detector, detection, None, TOP_FEATURES, verdict),
                option=orjson.OPT_SERIALIZE_NUMPY,
            ),
        },
        budget_s=6,
        block_s=0.25,
    )
    print(
        f"Measured {dt.date.today()} at commit {git_commit()} with "
        "`python -m bench.perf.breakdown`.\n"
    )
    print(f"| step ({ROWS:,} rows x {ARTICLE.n_features} features) | path | median ms |")
    print("|---|---|---:|")
    for step, medians in (("read the body", reading), ("write the answer", writing)):
        for path, seconds in medians.items():
            print(f"| {step} | {path} | {seconds * 1e3:.1f} |")

    steps = scoring_steps(detector, store, SCORED_WINDOWS)
    network = steps["the network on one thread (the engine's session, one call)"]
    print(f"\n| step, {SCORED_WINDOWS:,} windows ({ARTICLE.label}) | median us | vs the network |")
    print("|---|---:|---:|")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds * 1e6:,.0f} | {seconds / network:.1%} |")
    score_gap, share_gap = fused_against_plain(detector, SCORED_WINDOWS)
    print(
        f"\nFused against plain path on these windows: largest relative score difference "
        f"{score_gap:.3g}, largest contribution difference {share_gap:.3g}."
    )


if __name__ == "__main__":
    main()
