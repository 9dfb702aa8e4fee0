"""Choosing the reconstruction-error threshold and summarising the normal error distribution."""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from models.errors import InvalidInput, InvalidLabels
from models.metrics import f1_curve

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
    POT = "pot"  # peaks over threshold: an extreme-value tail fitted to normal errors


# POT fits its tail to the normal errors above this quantile (the top 10 %)
POT_TAIL_QUANTILE = 0.9


def quantile_threshold(normal_errors: np.ndarray, quantile: float) -> float:
    """The `quantile` of reconstruction errors on held-out normal windows."""
    if not 0.0 < quantile < 1.0:
        raise InvalidInput(f"threshold quantile must be between 0 and 1, got {quantile}")
    if len(normal_errors) == 0:
        raise InvalidInput("no normal validation windows to set a threshold on")
    return float(np.quantile(normal_errors, quantile))


def pot_threshold(
    normal_errors: np.ndarray, quantile: float, tail_quantile: float = POT_TAIL_QUANTILE
) -> float:
    """The error exceeded with probability 1 - `quantile` under a generalized Pareto tail fitted
    (method of moments) to the excesses of normal validation errors over their `tail_quantile`.

    Unlike the empirical quantile, it can reach past the largest error seen: with 100 normal
    windows, quantile 0.999 is an extrapolation, not the maximum.
    """
    if not 0.0 < tail_quantile < quantile < 1.0:
        raise InvalidInput(
            f"POT needs 0 < tail quantile ({tail_quantile}) < quantile ({quantile}) < 1"
        )
    if len(normal_errors) == 0:
        raise InvalidInput("no normal validation windows to set a threshold on")
    errors = np.asarray(normal_errors, dtype=np.float64)
    start = float(np.quantile(errors, tail_quantile))
    excesses = errors[errors > start] - start
    if len(excesses) < 2 or float(excesses.var()) <= 0.0:
        return float(np.quantile(errors, quantile))  # too few distinct tail points to fit
    mean, var = float(excesses.mean()), float(excesses.var())
    shape = 0.5 * (1.0 - mean * mean / var)
    scale = 0.5 * mean * (1.0 + mean * mean / var)
    tail_fraction = len(excesses) / len(errors)  # P(error > start)
    ratio = tail_fraction / (1.0 - quantile)
    if abs(shape) < 1e-6:
        return start + scale * float(np.log(ratio))
    return start + scale / shape * (ratio**shape - 1.0)


def max_f1_threshold(errors: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising F1 of `error > threshold` on labelled validation windows.

    The article read this off a precision/recall plot; here it is computed. The threshold sits
    halfway between the best threshold's score and the next lower score, so `>` flags exactly those.
    """
    n_positive = int(labels.sum())
    if n_positive == 0:
        raise InvalidLabels(
            "max-f1 needs anomalous windows (label 1) in the validation part; it has none"
        )
    scores, f1 = f1_curve(errors, labels)
    best = int(np.argmax(f1))
    lower = scores[best + 1] if best + 1 < len(scores) else scores[best] - abs(scores[best]) - 1.0
    return float((scores[best] + lower) / 2)


def sustained(exceeds: np.ndarray, windows_in_a_row: int) -> np.ndarray:
    """A window is an alarm once it and the `windows_in_a_row` - 1 windows before it all
    exceed the threshold: a lone window over the line (noise) raises nothing, a fault that
    lasts does, `windows_in_a_row` - 1 windows late. The first windows of a sequence, with
    fewer windows before them, raise nothing. SKAB's published autoencoders use the same rule.

    exceeds  # (n_windows,) bool, score > threshold, in time order -> (n_windows,) bool
    """
    exceeds = np.asarray(exceeds, dtype=bool)
    if windows_in_a_row < 1:
        raise InvalidInput(f"windows in a row must be >= 1, got {windows_in_a_row}")
    if windows_in_a_row == 1 or len(exceeds) == 0:
        return exceeds
    # how many of the last `windows_in_a_row` windows (fewer at the start) exceed
    counts = np.convolve(exceeds.astype(np.int64), np.ones(windows_in_a_row, np.int64))
    return np.asarray(counts[: len(exceeds)] >= windows_in_a_row)


def sustained_scores(scores: np.ndarray, windows_in_a_row: int) -> np.ndarray:
    """The lowest of each window's score and the `windows_in_a_row` - 1 scores before it (the
    first windows: -inf). `sustained(scores > t, k)` is exactly `sustained_scores(scores, k) > t`
    for every threshold t, so these are the scores to rank when the alarm rule is on (ROC AUC).

    scores  # (n_windows,) in time order -> (n_windows,) float64
    """
    scores = np.asarray(scores, dtype=np.float64)
    if windows_in_a_row < 1:
        raise InvalidInput(f"windows in a row must be >= 1, got {windows_in_a_row}")
    if windows_in_a_row == 1 or len(scores) == 0:
        return scores
    lowest = np.full(len(scores), -np.inf)
    if len(scores) >= windows_in_a_row:
        spans = np.lib.stride_tricks.sliding_window_view(scores, windows_in_a_row)
        lowest[windows_in_a_row - 1 :] = spans.min(axis=1)
    return lowest


def held(alarms: np.ndarray, windows_after: int) -> np.ndarray:
    """A window is an alarm when it or one of the `windows_after` windows before it is: an alarm
    stays raised `windows_after` windows after the rule last fired, so fragments of one fault
    closer than that become one event. Causal: a window's answer reads no later window.

    alarms  # (n_windows,) bool, in time order -> (n_windows,) bool
    """
    alarms = np.asarray(alarms, dtype=bool)
    if windows_after < 0:
        raise InvalidInput(f"windows held after an alarm must be >= 0, got {windows_after}")
    if windows_after == 0 or len(alarms) == 0:
        return alarms
    # alarms among the last windows_after + 1 windows (fewer at the start), by running sums
    fired = np.cumsum(alarms, dtype=np.int64)
    before = np.zeros(len(alarms), np.int64)
    before[windows_after + 1 :] = fired[: -(windows_after + 1)]
    return np.asarray(fired - before > 0)


def held_scores(scores: np.ndarray, windows_after: int) -> np.ndarray:
    """The highest of each window's score and the `windows_after` scores before it (fewer at the
    start; NaN ignored unless all are). `held(scores > t, h)` is exactly `held_scores(scores, h)
    > t` for every threshold t: the scores to rank when the alarm is held.

    scores  # (n_windows,) in time order -> (n_windows,) float64
    """
    scores = np.asarray(scores, dtype=np.float64)
    if windows_after < 0:
        raise InvalidInput(f"windows held after an alarm must be >= 0, got {windows_after}")
    if windows_after == 0 or len(scores) == 0:
        return scores
    padded = np.r_[np.full(windows_after, np.nan), scores]
    spans = np.lib.stride_tricks.sliding_window_view(padded, windows_after + 1)
    return np.asarray(np.fmax.reduce(spans, axis=1))


def alarm_rule(exceeds: np.ndarray, windows_in_a_row: int, windows_after: int) -> np.ndarray:
    """The stored alarm rule (`alarm_after`, then `alarm_hold`) on windows over the threshold:
    sustained, then held. exceeds  # (n_windows,) bool, in time order -> (n_windows,) bool"""
    return held(sustained(exceeds, windows_in_a_row), windows_after)


def error_quantiles(normal_errors: np.ndarray) -> dict[str, float]:
    """STORED_QUANTILES of the normal validation errors, keyed by the quantile as text."""
    values = np.quantile(normal_errors, STORED_QUANTILES)
    return {f"{q:g}": float(v) for q, v in zip(STORED_QUANTILES, values, strict=True)}
