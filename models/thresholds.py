"""Choosing the reconstruction-error threshold and summarising the normal error distribution."""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from models.errors import InvalidInput, InvalidLabels
from models.metrics import ranking_curve

# Quantiles of the normal validation errors stored with every model, so that any score can
# later be placed in that distribution (severity, dashboards).
STORED_QUANTILES = (
    0.0,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    0.9,
    0.95,
    0.975,
    0.99,
    0.995,
    0.999,
    1.0,
)


class ThresholdMethod(StrEnum):
    QUANTILE = "quantile"
    MAX_F1 = "max-f1"


def quantile_threshold(normal_errors: np.ndarray, quantile: float) -> float:
    """The `quantile` of reconstruction errors on held-out normal windows."""
    if not 0.0 < quantile < 1.0:
        raise InvalidInput(f"threshold quantile must be between 0 and 1, got {quantile}")
    if len(normal_errors) == 0:
        raise InvalidInput("no normal validation windows to set a threshold on")
    return float(np.quantile(normal_errors, quantile))


def max_f1_threshold(errors: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising F1 of `error > threshold` on labelled validation windows.

    The article read this off a precision/recall plot; here it is computed. The threshold sits
    halfway between the best cut's score and the next lower score, so `>` flags exactly that cut.
    """
    n_positive = int(labels.sum())
    if n_positive == 0:
        raise InvalidLabels(
            "max-f1 needs anomalous windows (label 1) in the validation part; it has none"
        )
    scores, tps, fps = ranking_curve(errors, labels)
    f1 = 2 * tps / (tps + fps + n_positive)
    best = int(np.argmax(f1))
    lower = scores[best + 1] if best + 1 < len(scores) else scores[best] - abs(scores[best]) - 1.0
    return float((scores[best] + lower) / 2)


def error_quantiles(normal_errors: np.ndarray) -> dict[str, float]:
    """STORED_QUANTILES of the normal validation errors, keyed by the quantile as text."""
    values = np.quantile(normal_errors, STORED_QUANTILES)
    return {f"{q:g}": float(v) for q, v in zip(STORED_QUANTILES, values, strict=True)}
