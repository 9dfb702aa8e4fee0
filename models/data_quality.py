"""The data-quality verdict: how the rows given compare with what the model saw in training."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from models.input_contract import parse_time
from models.windows import window_end_rows
from models.wording import listed, plural

if TYPE_CHECKING:  # pandas is imported only to read a file's time column (the CLI's)
    import pandas as pd

    from models.detector import Detection
    from models.spec import DetectorSpec

# A value this many training spreads (the scaler's scale) beyond the training range makes its
# windows `out_of_range`; chosen from the measurements in docs/benchmarks.md ("Out-of-range
# input"): past it the network extrapolates and its scores say little about the system.
FAR_SPREADS = 2.0
# a step within this fraction of the training step is regular; one of at least GAP_STEPS training
# steps skips a sample or more (a gap); anything else (shorter, in between, backwards) is irregular
STEP_TOLERANCE = 0.1
GAP_STEPS = 1.5
# fewer rows than this are too few to call a feature constant: a slow or coarse sensor often
# repeats itself for a few rows (a dashboard's last window) without anything being wrong
MIN_ROWS_FOR_CONSTANT = 30

Check = Literal["out_of_range", "constant", "time_steps"]


@dataclass(frozen=True, slots=True)
class TrainingStats:
    """What the verdict compares the rows with, from the model's detector.json."""

    features: tuple[str, ...]
    low: np.ndarray  # (n_features,) each feature's training minimum
    high: np.ndarray  # (n_features,) and maximum
    spread: np.ndarray  # (n_features,) the scaler's scale: 1 training spread, > 0
    time_step_seconds: float | None  # the training rows' median step; None when not stored
    # (n_features,) the feature took more than one value in training; derived, once per model
    trained_varied: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trained_varied", self.high > self.low)

    @classmethod
    def of(cls, spec: DetectorSpec) -> TrainingStats:
        training = spec.training
        return cls(
            tuple(spec.features),
            np.asarray(training.feature_min, dtype=np.float64),
            np.asarray(training.feature_max, dtype=np.float64),
            np.asarray(spec.scaler.scale, dtype=np.float64),
            training.time_step_seconds,
        )


class OutOfRange(NamedTuple):
    """A feature with values outside its training range; distances in training spreads. A
    named tuple: a request far off in every feature makes one per feature."""

    feature: str
    rows: int  # rows outside the range
    far_rows: int  # of those, rows more than the verdict's far_spreads outside
    worst_spreads: float
    worst_row: int
    first_row: int
    side: Literal["above", "below"]  # of the worst value

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "rows": self.rows,
            "far_rows": self.far_rows,
            "worst_spreads": round(self.worst_spreads, 3),
            "worst_row": self.worst_row,
            "first_row": self.first_row,
            "side": self.side,
        }


@dataclass(frozen=True, slots=True)
class TimeSteps:
    """The steps between the rows' timestamps against the training rows' step."""

    training_step_seconds: float | None
    median_step_seconds: float | None  # of the rows given; None with fewer than two times
    step_differs: bool  # the median step is not about the training step
    gaps: int  # steps of GAP_STEPS training steps or more
    missing_samples: int  # samples the gaps skip, counted in training steps
    longest_gap_seconds: float | None
    first_gap_row: int | None  # the row after the first gap
    irregular_steps: int  # steps neither about one training step nor a gap
    first_irregular_row: int | None  # the row after the first irregular step

    def as_dict(self) -> dict[str, Any]:
        return {
            "training_step_seconds": self.training_step_seconds,
            "median_step_seconds": self.median_step_seconds,
            "step_differs": self.step_differs,
            "gaps": self.gaps,
            "missing_samples": self.missing_samples,
            "longest_gap_seconds": self.longest_gap_seconds,
            "first_gap_row": self.first_gap_row,
            "irregular_steps": self.irregular_steps,
            "first_irregular_row": self.first_irregular_row,
        }


@dataclass(frozen=True, slots=True)
class NotJudged:
    check: Check
    reason: str


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """What is unusual about the rows, judged against the model's training data. Rows and
    windows are counted from 0 in the rows given; a window's flag belongs to its last row."""

    features: tuple[str, ...]
    n_rows: int
    far_spreads: float
    out_of_range: tuple[OutOfRange, ...]  # worst first
    window_end_rows: np.ndarray  # (n_windows,) the row each window's result belongs to
    window_far: np.ndarray  # (n_windows, n_features) the window holds a value far out of range
    constant_features: tuple[str, ...]  # constant here, varied in training
    varied_features: tuple[str, ...]  # varied here, constant in training
    missing: tuple[int, ...]  # (n_features,) cells missing as given
    filled: tuple[int, ...] | None  # (n_features,) cells filled, from the fill accounting
    time_steps: TimeSteps | None  # None without timestamps
    not_judged: tuple[NotJudged, ...]

    @property
    def windows_out_of_range(self) -> np.ndarray:
        """(n_windows,) bool: the window holds a value far outside the training range."""
        return np.asarray(self.window_far.any(axis=1))

    def window_dict(self, window: int) -> dict[str, Any]:
        """The fields one window's result gets: `out_of_range` and the features involved."""
        far = self.window_far[window]
        features = [f for f, is_far in zip(self.features, far, strict=True) if is_far]
        return {"out_of_range": bool(far.any()), "out_of_range_features": features}

    def rows_far(self, n_rows: int) -> np.ndarray:
        """(n_rows, n_features) bool: window_far on each window's row (False on rows that end
        no window), for a table with a line per row."""
        far = np.zeros((n_rows, len(self.features)), dtype=bool)
        far[self.window_end_rows] = self.window_far
        return far

    def for_windows(self, end_rows: np.ndarray) -> QualityVerdict:
        """The verdict with only the windows ending at `end_rows` (those a detection answered,
        e.g. the newest alone); what it says of the rows is unchanged."""
        picked = np.searchsorted(self.window_end_rows, end_rows)
        return replace(
            self, window_end_rows=self.window_end_rows[picked], window_far=self.window_far[picked]
        )

    @property
    def ok(self) -> bool:
        """Nothing was found (what could not be judged aside)."""
        steps = self.time_steps
        return not (
            self.out_of_range
            or self.constant_features
            or self.varied_features
            or any(self.missing)
            or (steps is not None and (steps.gaps or steps.irregular_steps or steps.step_differs))
        )

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready values (finite numbers, plain types), per answer; each
        window's flags come from window_dict."""
        return {
            "ok": self.ok,
            "far_spreads": self.far_spreads,
            "out_of_range": [finding.as_dict() for finding in self.out_of_range],
            "out_of_range_windows": int(self.windows_out_of_range.sum()),
            "windows": len(self.window_end_rows),
            "constant_features": list(self.constant_features),
            "varied_features": list(self.varied_features),
            "time_steps": None if self.time_steps is None else self.time_steps.as_dict(),
            "missing": _per_feature(self.features, self.missing),
            "filled": None if self.filled is None else _per_feature(self.features, self.filled),
            "not_judged": [{"check": n.check, "reason": n.reason} for n in self.not_judged],
        }

    def summary(self) -> str:
        """One line for the command line."""
        parts = [self._range_part()]
        if self.constant_features:
            parts.append(f"constant where training varied: {', '.join(self.constant_features)}")
        if self.varied_features:
            parts.append(f"varied where training was constant: {', '.join(self.varied_features)}")
        if self.time_steps is not None:
            parts.extend(_steps_parts(self.time_steps))
        if any(self.missing):
            filled = "" if self.filled is None else f", {sum(self.filled)} filled"
            parts.append(f"{plural(sum(self.missing), 'cell')} missing{filled}")
        if self.not_judged:
            parts.append(f"not judged: {'; '.join(n.reason for n in self.not_judged)}")
        return "data quality: " + "; ".join(parts)

    def _range_part(self) -> str:
        if not self.out_of_range:
            return "within the training range"
        worst = [
            f"{f.feature} {_spreads(f.worst_spreads)} {f.side} (row {f.worst_row})"
            for f in self.out_of_range
        ]
        windows = plural(len(self.window_end_rows), "window")
        return (
            f"{plural(len(worst), 'feature')} outside the training range ({listed(worst, 3)}); "
            f"{int(self.windows_out_of_range.sum())} of {windows} more than "
            f"{self.far_spreads:g} spreads out"
        )


def assess(
    rows: np.ndarray,
    stats: TrainingStats,
    lookback: int,
    *,
    timestamps: Sequence[Any] | np.ndarray | pd.Series | pd.Index | None = None,
    filled: Sequence[int] | None = None,
    far_spreads: float = FAR_SPREADS,
    stride: int = 1,
) -> QualityVerdict:
    """The verdict on `rows` as given, before any filling.

    rows  # (n_rows, n_features) float64 in the model's feature order, NaN where missing
    timestamps  # (n_rows,) datetimes, ISO 8601 text (no zone: UTC) or epoch seconds
    filled  # (n_features,) cells the fill policy filled, per feature, if any filling ran
    """
    n_rows, n_features = rows.shape
    if n_features != len(stats.features):
        raise ValueError(f"{n_features} columns for {len(stats.features)} features")
    if filled is not None and len(filled) != n_features:
        raise ValueError(f"{len(filled)} filled counts for {n_features} features")
    missing = np.isnan(rows)
    counts, low, high = _extremes(rows, missing)
    ends = window_end_rows(n_rows, lookback, stride)
    # the common case (every value inside the training range) skips the per-cell distances:
    # a dashboard refresh pays a few reductions over its rows for its verdict
    if (low >= stats.low).all() and (high <= stats.high).all():
        out_of_range: tuple[OutOfRange, ...] = ()
        window_far = np.zeros((len(ends), n_features), dtype=bool)
    else:
        distance, above = _distance(rows, stats)
        far = distance > far_spreads
        far_so_far = np.concatenate([np.zeros((1, n_features), np.int64), np.cumsum(far, axis=0)])
        window_far = far_so_far[ends + 1] - far_so_far[ends + 1 - lookback] > 0
        out_of_range = _out_of_range(stats.features, distance, above, far)
    not_judged: list[NotJudged] = []
    constant, varied = _constancy(counts, low, high, stats, not_judged)
    steps = None
    if timestamps is not None:
        steps = time_steps(time_seconds(timestamps), stats.time_step_seconds)
        if stats.time_step_seconds is None:
            not_judged.append(
                NotJudged("time_steps", "gaps and steps (the model stores no training time step)")
            )
    return QualityVerdict(
        features=stats.features,
        n_rows=n_rows,
        far_spreads=far_spreads,
        out_of_range=out_of_range,
        window_end_rows=ends,
        window_far=window_far,
        constant_features=constant,
        varied_features=varied,
        missing=tuple((n_rows - counts).tolist()),
        filled=None if filled is None else tuple(int(n) for n in filled),
        time_steps=steps,
        not_judged=tuple(not_judged),
    )


def judge(
    stats: TrainingStats,
    lookback: int,
    values: np.ndarray,
    detection: Detection,
    timestamps: Sequence[Any] | np.ndarray | pd.Series | pd.Index | None = None,
    *,
    as_windows: bool = False,
) -> QualityVerdict:
    """The verdict on the rows a detection scored, with its window flags on the detection's
    windows and its fill counts from the detection's own fill report (counted once, there).

    values  # (n_rows, n_features) as given, NaN missing; with `as_windows`, the given windows'
    # rows one after another (n_windows * lookback rows), each window judged on its own rows
    """
    filling = detection.filling
    filled = None if filling is None else filling.report.filled_per_feature.tolist()
    if as_windows:
        verdict = assess(values, stats, lookback, filled=filled, stride=lookback)
        return replace(verdict, not_judged=(*verdict.not_judged, WINDOWS_NOT_TIMED))
    verdict = assess(values, stats, lookback, timestamps=timestamps, filled=filled)
    if len(detection.window_end_rows) == len(verdict.window_end_rows):
        return verdict
    return verdict.for_windows(detection.window_end_rows)


# given windows carry no timestamps, and one window's rows need not follow the window before
WINDOWS_NOT_TIMED = NotJudged("time_steps", "gaps and steps (windows carry no timestamps)")


def _distance(rows: np.ndarray, stats: TrainingStats) -> tuple[np.ndarray, np.ndarray]:
    """How far each cell lies outside the training range, in training spreads (0 inside it or
    missing), and whether it lies above. Both (n_rows, n_features)."""
    with np.errstate(invalid="ignore", over="ignore"):
        above = (rows - stats.high) / stats.spread
        below = (stats.low - rows) / stats.spread
        distance = np.fmax(np.fmax(above, below), 0.0)  # fmax: a missing cell counts as 0
    # a huge value over a tiny spread overflows; JSON and comparisons want a finite number
    return np.minimum(distance, np.finfo(np.float64).max), above > 0


def _out_of_range(
    features: tuple[str, ...], distance: np.ndarray, above: np.ndarray, far: np.ndarray
) -> tuple[OutOfRange, ...]:
    """One finding per feature with a value outside, farthest first (in feature order among
    equals), computed for all such features at once."""
    columns = np.flatnonzero((distance > 0).any(axis=0))
    if len(columns) == 0:
        return ()
    part = distance[:, columns]
    outside = part > 0
    worst = part.argmax(axis=0)
    worst_spreads = part[worst, np.arange(len(columns))]
    order = np.argsort(-worst_spreads, kind="stable")
    found = zip(
        columns[order].tolist(),
        outside.sum(axis=0)[order].tolist(),
        far[:, columns].sum(axis=0)[order].tolist(),
        worst_spreads[order].tolist(),
        worst[order].tolist(),
        outside.argmax(axis=0)[order].tolist(),
        above[worst, columns][order].tolist(),
        strict=True,
    )
    return tuple(
        OutOfRange(features[i], n, n_far, spreads, row, first, "above" if up else "below")
        for i, n, n_far, spreads, row, first, up in found
    )


def _extremes(rows: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each feature's count of values, lowest and highest value, missing cells aside (a
    feature without a value: +inf and -inf). All (n_features,)."""
    n_rows = len(rows)
    if not missing.any():
        return (
            np.full(rows.shape[1], n_rows),
            rows.min(axis=0, initial=np.inf),
            rows.max(axis=0, initial=-np.inf),
        )
    return (
        n_rows - missing.sum(axis=0),
        np.where(missing, np.inf, rows).min(axis=0, initial=np.inf),
        np.where(missing, -np.inf, rows).max(axis=0, initial=-np.inf),
    )


def _constancy(
    counts: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    stats: TrainingStats,
    not_judged: list[NotJudged],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(features constant here that varied in training, features varying here that did not).

    counts, low, high  # (n_features,) from _extremes"""
    enough = counts >= MIN_ROWS_FOR_CONSTANT
    if not enough.all():  # a dashboard's few rows: every feature (the same key every time)
        not_judged.append(_too_few_values(_named(stats.features, ~enough)))
    trained_varied = stats.trained_varied
    constant = _named(stats.features, enough & (high == low) & trained_varied)
    return constant, _named(stats.features, (high > low) & ~trained_varied)


def _named(features: tuple[str, ...], picked: np.ndarray) -> tuple[str, ...]:
    """The features where `picked` (n_features,) is true, in feature order."""
    if picked.all():
        return features
    return tuple(features[i] for i in np.flatnonzero(picked).tolist())


@functools.lru_cache(maxsize=256)
def _too_few_values(features: tuple[str, ...]) -> NotJudged:
    """The same few features on every dashboard refresh: one text for them."""
    return NotJudged(
        "constant",
        f"fewer than {MIN_ROWS_FOR_CONSTANT} values of {listed(list(features), 3)}: too few "
        "to call a feature constant",
    )


def time_seconds(
    times: Sequence[Any] | np.ndarray | pd.Series | pd.Index,
) -> np.ndarray:
    """(n_rows,) float64 seconds since the epoch, NaN where a time cannot be read. Numbers are
    epoch seconds; text is ISO 8601, read as UTC when it has no zone."""
    if isinstance(times, list) and all(isinstance(t, str) for t in times):
        # a request's timestamps: read by the input contract's parser, as the API checked them
        # (one more pass of the same cost), without pandas, whose fixed cost is many times a
        # dashboard refresh's verdict and which the server never imports
        return np.array([_epoch_seconds(parse_time(t)) for t in times], dtype=np.float64)
    import pandas as pd

    series = pd.Series(np.asarray(times) if isinstance(times, pd.Index) else times)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_datetime(series, utc=True, format="mixed", errors="coerce")
    nanoseconds = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
    return np.where(parsed.isna().to_numpy(), np.nan, nanoseconds / 1e9)


def _epoch_seconds(moment: datetime | None) -> float:
    if moment is None:
        return np.nan
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def median_step_seconds(seconds: np.ndarray) -> float | None:
    """The median step between consecutive readable times, None with fewer than two or when
    it is not forward. seconds  # (n_rows,) from time_seconds"""
    steps = np.diff(seconds)
    steps = steps[np.isfinite(steps)]
    if len(steps) == 0:
        return None
    median = float(np.median(steps))
    return median if median > 0 else None


def time_steps(seconds: np.ndarray, training_step: float | None) -> TimeSteps:
    """The rows' steps against `training_step` (only the median without it).

    seconds  # (n_rows,) from time_seconds; a step touching an unreadable time is not counted
    """
    median = median_step_seconds(seconds)
    if training_step is None or median is None:
        return TimeSteps(training_step, median, False, 0, 0, None, None, 0, None)
    steps = np.diff(seconds)
    known = np.isfinite(steps)
    ratio = np.where(known, steps, training_step) / training_step
    gap = ratio >= GAP_STEPS
    irregular = (np.abs(ratio - 1.0) > STEP_TOLERANCE) & ~gap
    gaps = np.flatnonzero(gap)
    irregulars = np.flatnonzero(irregular)
    return TimeSteps(
        training_step_seconds=training_step,
        median_step_seconds=median,
        step_differs=abs(median / training_step - 1.0) > STEP_TOLERANCE,
        gaps=len(gaps),
        missing_samples=int((np.rint(ratio[gaps]) - 1).sum()),
        longest_gap_seconds=float(steps[gaps].max()) if len(gaps) else None,
        first_gap_row=int(gaps[0]) + 1 if len(gaps) else None,
        irregular_steps=len(irregulars),
        first_irregular_row=int(irregulars[0]) + 1 if len(irregulars) else None,
    )


def _steps_parts(steps: TimeSteps) -> list[str]:
    if steps.training_step_seconds is None:
        return []
    parts = []
    if steps.step_differs:
        parts.append(
            f"median step {steps.median_step_seconds:g} s against {steps.training_step_seconds:g} "
            "s in training"
        )
    if steps.gaps:
        parts.append(
            f"{plural(steps.gaps, 'gap')} ({plural(steps.missing_samples, 'sample')} missing, "
            f"the first before row {steps.first_gap_row})"
        )
    if steps.irregular_steps:
        parts.append(
            f"{plural(steps.irregular_steps, 'irregular step')} (the first before row "
            f"{steps.first_irregular_row})"
        )
    return parts


def _per_feature(features: tuple[str, ...], counts: tuple[int, ...]) -> dict[str, Any]:
    return {"cells": sum(counts), "per_feature": dict(zip(features, counts, strict=True))}


def _spreads(distance: float) -> str:
    shown = f"{distance:.3g}"
    return f"{shown} spread" if shown == "1" else f"{shown} spreads"
