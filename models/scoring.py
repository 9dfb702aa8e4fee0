"""From windows and their reconstructions to scores, contributions, severity and events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class ScoreOn(StrEnum):
    """Which timesteps of a window its score averages the squared error over."""

    WINDOW = "window"  # every timestep: rarewatch's score since the first version
    LAST_STEP = "last_step"  # only the last timestep, the row the score belongs to (the article's)


@dataclass(frozen=True, slots=True)
class WindowErrors:
    scores: np.ndarray  # (n_windows,) reconstruction MSE over the scored timesteps, scaled units
    contributions: np.ndarray  # (n_windows, n_features) each feature's share; rows sum to 1


class ErrorWeighting(StrEnum):
    """How each feature's squared error counts in the score."""

    # plain MSE: a feature the network reconstructs badly even on normal data dominates scores
    NONE = "none"
    # divided by the feature's mean squared error on normal validation windows: each feature's
    # error is measured in its own normal spread (a diagonal Mahalanobis distance on the errors)
    NORMAL_SPREAD = "normal_spread"


class ErrorStandardisation(StrEnum):
    """How each feature's error is put in its own normal units, and how those are combined."""

    NONE = "none"  # no standardisation: the (weighted) mean squared error
    # each feature's root-mean-square error standardised by its normal median and spread,
    # combined by the mean of the squares (a window's score) or the largest one
    MEAN_SQUARE = "mean_square"
    MAX = "max"


# The spread of a feature's normal errors is floored at this share of the features' median
# spread: a feature (almost) constant in training then counts at most 10 times as much per unit
# of error as a typical one instead of dividing by zero.
SPREAD_FLOOR_SHARE = 0.1
MIN_SPREAD = 1e-6  # the floor when every feature reconstructs perfectly
# Each standardised error is clipped to [0, this]: a constant feature that moves by thousands
# of raw units (its scale is 1) raises an alarm without drowning every other feature's share.
MAX_STANDARDISED_ERROR = 30.0


@dataclass(frozen=True, slots=True)
class ErrorStandard:
    """Each feature's normal error level, from normal validation windows."""

    aggregation: ErrorStandardisation  # MEAN_SQUARE or MAX
    centre: np.ndarray  # (n_features,) median root-mean-square error
    spread: np.ndarray  # (n_features,) > 0: scaled MAD, floored (SPREAD_FLOOR_SHARE)
    cap: float = MAX_STANDARDISED_ERROR

    def standardised(self, squares: np.ndarray, n_steps: int) -> np.ndarray:
        """squared_errors' sums (n_windows, n_features) -> each feature's error in its own
        normal spreads above its normal median, clipped to [0, cap]; an error below the
        median counts as none."""
        rms = np.sqrt(squares / n_steps)
        return np.clip((rms - self.centre) / self.spread, 0.0, self.cap)


def normal_error_standard(
    windows: np.ndarray,
    reconstructed: np.ndarray,
    aggregation: ErrorStandardisation,
    score_on: ScoreOn = ScoreOn.WINDOW,
) -> ErrorStandard:
    """The median and the spread (1.4826 x the median absolute deviation) of each feature's
    root-mean-square error over normal windows, the spread floored.

    windows, reconstructed  # (n_normal_windows, lookback, n_features)
    """
    n_steps = scored_steps(windows.shape[1], score_on)
    return error_standard_of(squared_errors(windows, reconstructed, score_on), n_steps, aggregation)


def error_standard_of(
    squares: np.ndarray, n_steps: int, aggregation: ErrorStandardisation
) -> ErrorStandard:
    """normal_error_standard from normal windows' `squared_errors` (or a member's combined
    squares) over `n_steps` scored timesteps.

    squares  # (n_normal_windows, n_features)
    """
    rms = np.sqrt(squares / n_steps)
    centre = np.median(rms, axis=0)
    spread = 1.4826 * np.median(np.abs(rms - centre), axis=0)
    floor = max(SPREAD_FLOOR_SHARE * float(np.median(spread)), MIN_SPREAD)
    return ErrorStandard(aggregation, centre, np.maximum(spread, floor))


def window_errors(
    windows: np.ndarray,
    reconstructed: np.ndarray,
    score_on: ScoreOn = ScoreOn.WINDOW,
    weights: np.ndarray | None = None,
    standard: ErrorStandard | None = None,
) -> WindowErrors:
    """windows, reconstructed  # (n_windows, lookback, n_features)
    weights  # (n_features,) or None: each feature's squared error is divided by its weight
    standard  # or None: scores from the standardised errors instead (ErrorStandard)

    The score is the mean squared error over the scored timesteps (all of them, or only the
    last) and the features; contributions share out the same squared errors.
    """
    squares = squared_errors(windows, reconstructed, score_on)
    return errors_from_squares(squares, scored_steps(windows.shape[1], score_on), weights, standard)


def scored_steps(lookback: int, score_on: ScoreOn) -> int:
    """How many timesteps of a window its score averages over."""
    return 1 if score_on is ScoreOn.LAST_STEP else lookback


def squared_errors(
    windows: np.ndarray, reconstructed: np.ndarray, score_on: ScoreOn = ScoreOn.WINDOW
) -> np.ndarray:
    """Each window's squared error per feature, summed over the scored timesteps.

    windows, reconstructed  # (n_windows, lookback, n_features) -> (n_windows, n_features) float64
    """
    if score_on is ScoreOn.LAST_STEP:
        windows, reconstructed = windows[:, -1:], reconstructed[:, -1:]
    # One pass over the windows in their own precision (float32 from the engines). This is the
    # hot part of scoring; float64 squares of the whole windows cost twice as much.
    diff = reconstructed - windows
    per_feature = np.einsum("nlf,nlf->nf", diff, diff)
    if not np.isfinite(per_feature).all():  # float32 squares overflow past ~1.8e19: redo wide
        diff = np.subtract(reconstructed, windows, dtype=np.float64)
        per_feature = np.einsum("nlf,nlf->nf", diff, diff)
    return per_feature.astype(np.float64, copy=False)


def errors_from_squares(
    squares: np.ndarray,
    n_steps: int,
    weights: np.ndarray | None = None,
    standard: ErrorStandard | None = None,
) -> WindowErrors:
    """Scores and contributions from `squared_errors`' sums over `n_steps` scored timesteps.

    squares  # (n_windows, n_features); weights  # (n_features,) or None
    With `standard`, contributions share out the squared standardised errors and the score is
    their mean (MEAN_SQUARE) or the largest standardised error (MAX).
    """
    n_features = squares.shape[1]
    if standard is not None:
        z = standard.standardised(squares, n_steps)
        z_squares = z * z
        total = z_squares.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            contributions = z_squares / total[:, None]
        share_perfect_equally(contributions, total == 0)
        if standard.aggregation is ErrorStandardisation.MAX:
            return WindowErrors(scores=z.max(axis=1), contributions=contributions)
        return WindowErrors(scores=total / n_features, contributions=contributions)
    if weights is not None:
        squares = squares / np.asarray(weights, dtype=np.float64)
    total = squares.sum(axis=1)  # (n_windows,)
    with np.errstate(divide="ignore", invalid="ignore"):
        contributions = squares / total[:, None]
    share_perfect_equally(contributions, total == 0)
    return WindowErrors(scores=total / (n_steps * n_features), contributions=contributions)


def share_perfect_equally(contributions: np.ndarray, perfect: np.ndarray) -> None:
    """A perfect reconstruction has no error to share out (its shares are 0 / 0): give every
    feature an equal share, so that contributions always sum to 1. In place; every path
    (numpy here, the scoring graph's in models/onnx_scoring.py) ends with it.

    contributions  # (n_windows, n_features); perfect  # (n_windows,) bool: a total error of 0
    """
    if perfect.any():
        contributions[perfect] = 1.0 / contributions.shape[1]


def joined(parts: list[WindowErrors]) -> WindowErrors:
    """The errors of consecutive chunks of windows as one."""
    if len(parts) == 1:
        return parts[0]
    return WindowErrors(
        scores=np.concatenate([p.scores for p in parts]),
        contributions=np.concatenate([p.contributions for p in parts]),
    )


def normal_error_weights(
    windows: np.ndarray, reconstructed: np.ndarray, score_on: ScoreOn = ScoreOn.WINDOW
) -> np.ndarray:
    """Each feature's mean squared error over normal windows (and the scored timesteps), the
    weights of ErrorWeighting.NORMAL_SPREAD. Floored at 1 % of the features' mean, so that a
    feature reconstructed (almost) perfectly on normal data, e.g. a constant one, neither divides
    by zero nor multiplies its first deviation by millions.

    windows, reconstructed  # (n_normal_windows, lookback, n_features) -> (n_features,)
    """
    squares = squared_errors(windows, reconstructed, score_on)
    return error_weights_of(squares, scored_steps(windows.shape[1], score_on))


def error_weights_of(squares: np.ndarray, n_steps: int) -> np.ndarray:
    """normal_error_weights from normal windows' `squared_errors` (or a member's combined
    squares) over `n_steps` scored timesteps.

    squares  # (n_normal_windows, n_features) -> (n_features,)
    """
    per_feature = squares.mean(axis=0) / n_steps
    floor = max(float(per_feature.mean()) * 1e-2, 1e-12)
    return np.maximum(per_feature, floor)


def smoothed(errors: WindowErrors, k: int, scored: np.ndarray | None = None) -> WindowErrors:
    """Causal smoothing of a run of consecutive windows (one request, one file): each score
    becomes the mean of its own and the scores of the k-1 windows before it, fewer at the
    start; contributions share out the same sum (each window's shares weighted by its score),
    so they still sum to 1. Windows not `scored` (a gap) count in no mean and get the mean of
    the others in their span (set aside later all the same).

    scored  # (n_windows,) bool or None: all scored
    """
    if k == 1 or len(errors.scores) == 0:
        return errors
    weight = np.ones(len(errors.scores)) if scored is None else scored.astype(np.float64)
    scores = errors.scores * weight
    shares = errors.contributions * scores[:, None]
    counts = _trailing_sums(weight, k)
    sums = _trailing_sums(scores, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, sums / counts, errors.scores)
        contributions = _trailing_sums(shares, k) / sums[:, None]
    perfect = ~(sums > 0)  # no error in the span (or no scored window): shared equally
    share_perfect_equally(contributions, perfect)
    return WindowErrors(scores=mean, contributions=contributions)


def _trailing_sums(values: np.ndarray, k: int) -> np.ndarray:
    """The sum of each entry and the k-1 before it along the first axis (fewer at the start).
    Each sum is taken afresh (no running total), so a window's result does not depend on how
    many windows came before it in the request: /detect/last gives what /detect gives."""
    padded = np.concatenate([np.zeros((k - 1, *values.shape[1:])), values])
    return np.lib.stride_tricks.sliding_window_view(padded, k, axis=0).sum(axis=-1)


def smooth_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Causal moving average: each score becomes the mean of itself and the k-1 scores before
    it (fewer at the start). scores  # (n_windows,) in time order -> the same shape.

    A lone noisy window no longer crosses the threshold on its own; a fault that lasts does.
    """
    if k < 1:
        raise ValueError(f"the smoothing span must be >= 1, got {k}")
    scores = np.asarray(scores, dtype=np.float64)
    if k == 1 or len(scores) == 0:
        return scores
    sums = np.cumsum(np.r_[0.0, scores])
    ends = np.arange(1, len(scores) + 1)
    starts = np.maximum(ends - k, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


# the step used when the median normal error is not below the threshold (or not positive)
DEFAULT_SEVERITY_STEP = 2.0

# severity()'s formula, stated once: the API schema and docs/api.md show this text
SEVERITY_FORMULA = f"""\
severity = 0                                          if score <= threshold
severity = 1 - exp(-ln(score / threshold) / ln(step))  otherwise
step     = threshold / q50    (q50: the median normal validation error,
                               validation_error_quantiles["0.5"])
         = {DEFAULT_SEVERITY_STEP:g}                  when q50 is not below the threshold"""
SEVERITY_SCALE = "A score of threshold x step gives 0.63, threshold x step^2 0.86, x step^3 0.95."


def severity(scores: np.ndarray, threshold: float, normal_median: float) -> np.ndarray:
    """How far past the threshold each score is, in [0, 1], by SEVERITY_FORMULA.

    Reconstruction errors are heavy-tailed, so the distance is counted in ratios: in steps, where
    one step is the factor by which the threshold already sits above a typical normal window.
    """
    threshold = max(threshold, 1e-12)  # a zero threshold would divide by zero
    step = threshold / normal_median if 0 < normal_median < threshold else DEFAULT_SEVERITY_STEP
    with np.errstate(divide="ignore"):
        steps_past = np.log(np.maximum(scores, threshold) / threshold) / np.log(step)
    return -np.expm1(-steps_past)


@dataclass(frozen=True, slots=True)
class Event:
    """A run of consecutive anomalous windows, by window index (inclusive)."""

    start: int
    end: int
    peak: int  # the window with the highest score in the run
    peak_score: float
    top_feature: int  # the feature with the largest summed contribution over the run


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive true flags: events, labelled spans."""
    edges = np.diff(np.r_[False, flags.astype(bool), False].astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


def find_events(
    is_anomaly: np.ndarray, scores: np.ndarray, contributions: np.ndarray
) -> list[Event]:
    if not is_anomaly.any():  # the usual answer, and the dashboard refresh's: nothing to group
        return []
    events = []
    for start, end in runs(is_anomaly):  # one iteration per event, not per row
        run = slice(start, end + 1)
        peak = int(start) + int(np.argmax(scores[run]))
        top = int(np.argmax(contributions[run].sum(axis=0)))
        events.append(Event(int(start), int(end), peak, float(scores[peak]), top))
    return events
