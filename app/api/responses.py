"""Shape domain results (Detection, DetectorSpec) into the JSON the schemas describe, via orjson.

Detections are shaped straight from numpy arrays into dicts and encoded by orjson: no pydantic
model per window, which keeps a 10 000-window answer fast. tests/app check the shapes against
the response schemas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from app.api.registry import Entry, Registry
from app.api.results_json import Marks, results_json
from models.data_quality import QualityVerdict
from models.detector import Detection, Detector
from models.in_use import InUse
from models.spec import DetectorSpec


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def model_ref(detector: Detector) -> dict[str, Any]:
    return {
        "name": detector.name,
        "version": detector.version,
        "lookback": detector.lookback,
        "threshold": detector.threshold,
        "features": detector.features,
    }


def detection_body(
    detector: Detector,
    detection: Detection,
    timestamps: list[str] | None,
    top_features: int,
    verdict: QualityVerdict,
) -> dict[str, Any]:
    """verdict  # on the rows given, its window flags on the detection's windows"""
    features = detector.features
    rows = detection.window_end_rows.tolist()
    times = [timestamps[r] for r in rows] if timestamps is not None else [None] * len(rows)
    k = min(top_features, len(features))
    results = results_json(
        detection.window_end_rows,
        times,
        detection.scores,
        detection.is_anomaly,
        detection.severity,
        top_contributions(detection.contributions, k),
        features,
        Marks(detection.filling, verdict.window_far if verdict.out_of_range else None),
    )
    events = [
        {
            "start_index": rows[e.start],
            "end_index": rows[e.end],
            "start_timestamp": times[e.start],
            "end_timestamp": times[e.end],
            "n_windows": e.end - e.start + 1,
            "peak_index": rows[e.peak],
            "peak_timestamp": times[e.peak],
            "peak_score": e.peak_score,
            "top_feature": features[e.top_feature],
        }
        for e in detection.events
    ]
    return {
        "model": model_ref(detector),
        "threshold": detection.threshold,
        "n_windows": len(rows),
        "results": results,
        "events": events,
        "fill": fill_summary(detector, detection),
        "data_quality": verdict.as_dict(),
    }


def fill_summary(detector: Detector, detection: Detection) -> dict[str, Any]:
    """The answer's `fill`: the policy applied and the cells it filled and left, per feature."""
    filling, features = detection.filling, detector.features
    if filling is None:  # complete rows: the model's policy, nothing filled
        policy, nothing = detector.fill_policy, dict.fromkeys(features, 0)
        return {
            "method": policy.text,
            "max_gap": policy.max_gap,
            "filled_cells": nothing,
            "unfilled_cells": nothing,
            "unscored_windows": 0,
        }
    report = filling.report
    return {
        "method": filling.policy.text,
        "max_gap": filling.policy.max_gap,
        "filled_cells": dict(zip(features, report.filled_per_feature.tolist(), strict=True)),
        "unfilled_cells": dict(zip(features, report.missing_per_feature.tolist(), strict=True)),
        "unscored_windows": filling.n_unscored,
    }


def top_contributions(contributions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each window's k largest shares, largest first, equal shares in feature order: the first
    k of a stable sort of every share, without sorting every share.

    contributions  # (n_windows, n_features) -> feature indices and shares, (n_windows, k) each
    """
    n_windows, _n_features = contributions.shape
    if k > MAX_PICKED_ONE_BY_ONE:
        top = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(contributions, top, axis=1)
    # k passes of argmax, which returns the first of equal maxima: the stable sort's order
    remaining = contributions.astype(np.float64, copy=True)
    top = np.empty((n_windows, k), dtype=np.intp)
    windows = np.arange(n_windows)
    for rank in range(k):
        top[:, rank] = picked = remaining.argmax(axis=1)
        remaining[windows, picked] = -np.inf
    return top, np.take_along_axis(contributions, top, axis=1)


# up to this many top features, k argmax passes beat one sort of every share
MAX_PICKED_ONE_BY_ONE = 8


def model_summary(entry: Entry, versions: list[int]) -> dict[str, Any]:
    spec = entry.spec
    return {
        "name": entry.name,
        "version": entry.version,
        "versions": versions,
        "features": spec.features,
        "lookback": spec.lookback,
        "threshold": spec.threshold.value,
        "threshold_method": str(spec.threshold.method),
    }


def model_info(
    name: str, version: int, versions: list[int], spec: DetectorSpec, in_use: InUse | None = None
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "versions": versions,
        "created": spec.created,
        "features": spec.features,
        "lookback": spec.lookback,
        "score_on": str(spec.score_on),
        "scaling": str(spec.scaler.method),
        "relative_scale_floor": spec.relative_scale_floor,
        "window_transform": str(spec.window_transform),
        "error_standardisation": str(spec.error_standardisation),
        "smoothing": spec.smoothing,
        "member_medians": spec.member_medians,
        "pca_member": None
        if spec.pca_member is None
        else {
            "components": len(spec.pca_member.components),
            "values": spec.lookback * spec.n_features,
            "network_median": spec.pca_member.network_median,
            "pca_median": spec.pca_member.pca_median,
        },
        "alarm_after": spec.alarm_after,
        "alarm_hold": spec.alarm_hold,
        "threshold": spec.threshold.model_dump(mode="json"),
        "validation_error_quantiles": spec.validation_error_quantiles,
        "network": spec.network.model_dump(mode="json"),
        "layers": [
            {"layer": r.name, "type": r.type, "output_shape": r.output_shape, "params": r.params}
            for r in spec.layers
        ],
        "total_params": sum(r.params for r in spec.layers),
        "training": spec.training.model_dump(mode="json"),
        "library_versions": spec.library_versions,
    }
    if in_use is not None:
        info["watch"] = in_use.model_dump()
    return info


def model_list(registry: Registry, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the models served (none is loaded for it), and every unavailable one."""
    entries, next_cursor = registry.page(cursor, limit)
    return {
        "models": [model_summary(entry, registry.store.versions(entry.name)) for entry in entries],
        "unavailable": unavailable_models(registry),
        "next_cursor": next_cursor,
    }


def unavailable_models(registry: Registry) -> list[dict[str, str]]:
    return [{"name": n, "reason": r} for n, r in registry.unavailable().items()]
