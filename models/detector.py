"""A loaded model: scale, temporalize, reconstruct, score, flag, explain. No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from models.data_quality import TrainingStats
from models.engines import Engine, Progress
from models.errors import FeatureMismatch, InvalidInput, ModelFault, NonFiniteValues
from models.input_contract import (
    FillPolicy,
    FillReport,
    fill_missing,
    unscored_windows,
    window_shares,
)
from models.onnx_scoring import RowScorer
from models.pca_member import scored_squares
from models.scaling import Scaler
from models.scoring import (
    Event,
    WindowErrors,
    errors_from_squares,
    find_events,
    joined,
    scored_steps,
    severity,
    smoothed,
)
from models.spec import DetectorSpec
from models.thresholds import alarm_rule
from models.windows import temporalize, transform_windows, window_end_rows
from models.wording import plural

if TYPE_CHECKING:
    from models.training import TrainedModel


@dataclass(frozen=True, slots=True)
class Filling:
    """How a detection's missing values were filled, when its input had any."""

    policy: FillPolicy
    report: FillReport  # over the rows given (for windows: their rows one after another)
    filled_share: np.ndarray  # (n_windows,) the share of each window's cells that was filled
    scored: np.ndarray  # (n_windows,) bool: False where the window still held a missing value

    @property
    def n_unscored(self) -> int:
        return int(np.count_nonzero(~self.scored))


@dataclass(frozen=True, slots=True)
class Detection:
    threshold: float
    window_end_rows: np.ndarray  # (n_windows,) index of the row each window's result belongs to
    scores: np.ndarray  # (n_windows,) reconstruction MSE; NaN where not scored (see filling)
    is_anomaly: np.ndarray  # (n_windows,) score > threshold; False where not scored
    severity: np.ndarray  # (n_windows,) in [0, 1); NaN where not scored
    contributions: np.ndarray  # (n_windows, n_features), rows sum to 1; NaN where not scored
    events: list[Event]
    filling: Filling | None = None  # None: the input had no missing value

    def newest(self) -> Detection:
        """Only the last window's result, its alarm already decided with the windows before it."""
        last = slice(-1, None)
        scores, is_anomaly, contributions = (
            self.scores[last],
            self.is_anomaly[last],
            self.contributions[last],
        )
        filling = self.filling
        if filling is not None:
            filling = replace(
                filling, filled_share=filling.filled_share[last], scored=filling.scored[last]
            )
        return Detection(
            threshold=self.threshold,
            window_end_rows=self.window_end_rows[last],
            scores=scores,
            is_anomaly=is_anomaly,
            severity=self.severity[last],
            contributions=contributions,
            events=find_events(is_anomaly, scores, contributions),
            filling=filling,
        )


class Detector:
    def __init__(
        self,
        name: str,
        version: int,
        spec: DetectorSpec,
        engine: Engine,
        row_scorer: RowScorer | None = None,
    ) -> None:
        """row_scorer  # the fast path from rows to errors (models/onnx_scoring.py), if any"""
        self.name, self.version, self.spec, self.engine = name, version, spec, engine
        self.row_scorer = row_scorer
        self.scaler = Scaler(tuple(spec.scaler.mean), tuple(spec.scaler.scale))
        self.training_stats = TrainingStats.of(spec)  # what a data-quality verdict compares with
        # read on every request (a spec stored before fills builds default options to tell it)
        self._fill_policy = spec.fill_policy
        self._normal_median = spec.validation_error_quantiles["0.5"]
        weights = spec.error_weights
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        standard = spec.error_standard
        self._standard = None if standard is None else standard.standard()
        member = spec.pca_member
        self._member = None if member is None else member.member()
        medians = spec.member_medians
        self._medians = None if medians is None else np.asarray(medians, np.float64)

    @classmethod
    def from_trained(cls, trained: TrainedModel, name: str) -> Detector:
        """The detector a freshly trained model gives, with the engine load_detector would
        choose, without storing it first (as scikit-learn's fit returns the fitted estimator)."""
        from models.loading import trained_detector

        return trained_detector(trained, name)

    @property
    def features(self) -> list[str]:
        return self.spec.features

    @property
    def lookback(self) -> int:
        return self.spec.lookback

    @property
    def threshold(self) -> float:
        return self.spec.threshold.value

    @property
    def fill_policy(self) -> FillPolicy:
        """The fill the model was trained with (the default for models stored before fills)."""
        return self._fill_policy

    def detect(
        self,
        values: np.ndarray,
        threshold: float | None = None,
        progress: Progress | None = None,
        fill: FillPolicy | None = None,
    ) -> Detection:
        """values  # (n_rows, n_features) in the model's feature order, raw units, NaN missing

        `progress(done, total)` hears how many windows are reconstructed, chunk by chunk.
        `fill` overrides the model's fill policy for this call.
        """
        return self._detect_rows(values, threshold, False, progress, fill)

    def detect_last(
        self, values: np.ndarray, threshold: float | None = None, fill: FillPolicy | None = None
    ) -> Detection:
        """Only the newest window: the call a dashboard makes on every refresh."""
        return self._detect_rows(values, threshold, True, fill=fill)

    def detect_windows(
        self, windows: np.ndarray, threshold: float | None = None, fill: FillPolicy | None = None
    ) -> Detection:
        """windows  # (n_windows, lookback, n_features), already temporalized, raw units, NaN
        missing; each window is filled on its own (its rows are all it has)"""
        self._check_shape(windows, windows.ndim == 3, "windows x lookback x features")
        if windows.shape[1] != self.lookback:
            raise InvalidInput(
                f"each window must have {plural(self.lookback, 'row')} (the lookback), "
                f"got {windows.shape[1]}"
            )
        n_windows = windows.shape[0]
        filling = None
        if not np.isfinite(windows).all():
            _check_not_infinite(windows)
            policy = fill or self.fill_policy
            parts = [fill_missing(window, policy) for window in windows]
            windows = np.stack([part[0] for part in parts])
            reports = [part[1] or _complete(part[0]) for part in parts]
            report = FillReport(
                np.concatenate([r.filled for r in reports]),
                np.concatenate([r.missing for r in reports]),
            )
            filling = self._filling(policy, report, self.lookback * np.arange(1, n_windows + 1) - 1)
            windows = self._stand_in(windows)
        scaled = self.scaler.transform(windows.reshape(-1, windows.shape[2]))
        scaled_windows = scaled.reshape(n_windows, self.lookback, -1)
        errors = self._window_errors(scaled_windows)
        return self._decide(errors, np.arange(n_windows), threshold, filling)

    def _filling(self, policy: FillPolicy, report: FillReport, end_rows: np.ndarray) -> Filling:
        unscored = unscored_windows(report, end_rows, self.lookback)
        return Filling(
            policy,
            report,
            window_shares(report, end_rows, self.lookback),
            np.ones(len(end_rows), bool) if unscored is None else ~unscored,
        )

    def _stand_in(self, values: np.ndarray) -> np.ndarray:
        """`values` with each value still missing replaced by its feature's centre: the windows
        holding one are scored only to be set aside (no alarm, no score), so any value does."""
        missing = np.isnan(values)
        if not missing.any():
            return values
        centre = np.broadcast_to(np.asarray(self.scaler.mean), values.shape)
        return np.where(missing, centre, values)

    def _detect_rows(
        self,
        values: np.ndarray,
        threshold: float | None,
        newest_only: bool,
        progress: Progress | None = None,
        fill: FillPolicy | None = None,
    ) -> Detection:
        self._check_shape(values, values.ndim == 2, "rows x features")
        if np.isnan(values).any():  # missing values: filled, then scored as complete ones are
            return self._detect_gappy(values, threshold, newest_only, progress, fill)
        n_rows = len(values)
        earlier = self.earlier_windows() if newest_only else 0
        # only the rows the scored windows need are scaled
        first_row = max(n_rows - self.lookback - earlier, 0) if newest_only else 0
        rows = values[first_row:]
        errors = None
        if self.row_scorer is not None and len(rows) >= self.lookback:
            # its graph checks that the rows are finite as it goes: None if one is not
            errors = self.row_scorer.errors(rows, progress)
            progress = None  # heard to the end already, should the plain path redo the rows
        if errors is None:  # no fast path, a value not finite, or an overflow in the fast path
            _check_finite(values)
            errors = self._window_errors(
                temporalize(self.scaler.transform(rows), self.lookback), progress
            )
        else:
            _check_finite(values[:first_row])  # rows before those scored are checked all the same
        end_rows = first_row + window_end_rows(n_rows - first_row, self.lookback)
        detection = self._decide(errors, end_rows, threshold)
        return detection.newest() if earlier else detection

    def earlier_windows(self) -> int:
        """The windows before the newest that its result needs: the hold looks back alarm_hold
        windows for the rule having fired, the rule at each of those alarm_after - 1 windows
        before it, and each of those scores (the newest too) is the mean of its own and the
        smoothing - 1 before it. /detect/last given fewer rows answers from the windows it has,
        as the first windows of a longer request do."""
        spec = self.spec
        return spec.alarm_hold + (spec.alarm_after - 1) + (spec.smoothing - 1)

    def _detect_gappy(
        self,
        values: np.ndarray,
        threshold: float | None,
        newest_only: bool,
        progress: Progress | None,
        fill: FillPolicy | None,
    ) -> Detection:
        """Rows with missing values: fill them by the policy, score every window on the filled
        rows, then set aside (no score, no alarm) the windows still holding a missing value."""
        _check_not_infinite(values)
        policy = fill or self.fill_policy
        filled, report = fill_missing(values, policy)
        assert report is not None
        n_rows = len(values)
        if n_rows < self.lookback:  # the complete path's answer to too few rows
            temporalize(values, self.lookback)
        # filled over every row given (a gap's ends may lie before the windows scored)
        earlier = self.earlier_windows() if newest_only else 0
        first_row = max(n_rows - self.lookback - earlier, 0) if newest_only else 0
        end_rows = first_row + window_end_rows(n_rows - first_row, self.lookback)
        filling = self._filling(policy, report, end_rows)
        scaled = self.scaler.transform(self._stand_in(filled[first_row:]))
        errors = self._window_errors(temporalize(scaled, self.lookback), progress)
        detection = self._decide(errors, end_rows, threshold, filling)
        return detection.newest() if newest_only else detection

    def _window_errors(self, windows: np.ndarray, progress: Progress | None = None) -> WindowErrors:
        """windows  # (n_windows, lookback, n_features), scaled"""
        transform, score_on, weights = self.spec.window_transform, self.spec.score_on, self._weights
        standard, member, medians = self._standard, self._member, self._medians
        n_steps = scored_steps(self.lookback, score_on)

        def chunk_errors(chunk: np.ndarray, reconstructed: np.ndarray) -> WindowErrors:
            squares = scored_squares(chunk, reconstructed, score_on, member, medians)
            return errors_from_squares(squares, n_steps, weights, standard)

        # chunk by chunk (side by side where the engine runs chunks in parallel), each reduced
        # to its scores and contributions while it is still in cache
        errors = joined(
            self.engine.map_chunks(
                windows,
                chunk_errors,
                progress,
                prepare=lambda chunk: transform_windows(chunk, transform),
            )
        )
        if not np.isfinite(errors.scores).all():
            # finite inputs that overflow inside the network: a model fault, never a score
            # (the fused path hands such inputs to this one)
            raise ModelFault("the model produced a non-finite reconstruction")
        return errors

    def _decide(
        self,
        errors: WindowErrors,
        end_rows: np.ndarray,
        threshold: float | None,
        filling: Filling | None = None,
    ) -> Detection:
        """Alarms, severities and events from each window's errors (finite scores). A window
        not scored (filling.scored) has no score and never alarms: it ends a running event, and
        the alarm rule's count of windows in a row starts again after it (a hold counts it and
        runs on past it). With smoothing, the windows are smoothed first, in their order, the
        unscored ones left out of every mean."""
        if threshold is None:  # the request's own threshold, else the model's
            threshold = self.threshold
        errors = smoothed(errors, self.spec.smoothing, None if filling is None else filling.scored)
        scores, contributions = errors.scores, errors.contributions
        exceeds = scores > threshold
        unscored = None if filling is None or filling.scored.all() else ~filling.scored
        if unscored is not None:
            exceeds &= ~unscored
            scores = np.where(unscored, np.nan, scores)
            contributions = np.where(unscored[:, None], np.nan, contributions)
        is_anomaly = alarm_rule(exceeds, self.spec.alarm_after, self.spec.alarm_hold)
        if unscored is not None:  # nor does a hold raise an unscored window
            is_anomaly = is_anomaly & ~unscored
        return Detection(
            threshold=threshold,
            window_end_rows=end_rows,
            scores=scores,
            is_anomaly=is_anomaly,
            severity=severity(scores, threshold, self._normal_median),
            contributions=contributions,
            events=find_events(is_anomaly, scores, contributions),
            filling=filling,
        )

    def _check_shape(self, values: np.ndarray, right_rank: bool, axes: str) -> None:
        if not right_rank:
            raise InvalidInput(f"expected an array of {axes}, got shape {values.shape}")
        if values.shape[-1] != len(self.features):
            raise FeatureMismatch(
                f"expected {plural(len(self.features), 'feature')} ({', '.join(self.features)}), "
                f"got {values.shape[-1]}"
            )


def _check_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise NonFiniteValues("values must be finite numbers (no NaN or infinity)")


def _check_not_infinite(values: np.ndarray) -> None:
    """NaN is a missing value; infinity is refused as ever."""
    if np.isinf(values).any():
        raise NonFiniteValues("values must be finite numbers or missing (no infinity)")


def _complete(values: np.ndarray) -> FillReport:
    nothing = np.zeros(values.shape, dtype=bool)
    return FillReport(nothing, nothing)


@dataclass(frozen=True, slots=True)
class RowScores:
    """A detection laid out one entry per input row; rows that end no window get NaN / False."""

    scores: np.ndarray  # (n_rows,) NaN for the first lookback-1 rows and unscored windows
    is_anomaly: np.ndarray  # (n_rows,) bool
    contributions: np.ndarray  # (n_rows, n_features) NaN where there is no score
    filled_share: np.ndarray  # (n_rows,) the share of the row's window filled; NaN: no window
    unscored: np.ndarray  # (n_rows,) bool: the row's window held a missing value

    @classmethod
    def of(cls, detection: Detection, n_rows: int) -> RowScores:
        rows = detection.window_end_rows
        scores = np.full(n_rows, np.nan)
        scores[rows] = detection.scores
        is_anomaly = np.zeros(n_rows, dtype=bool)
        is_anomaly[rows] = detection.is_anomaly
        contributions = np.full((n_rows, detection.contributions.shape[1]), np.nan)
        contributions[rows] = detection.contributions
        filled_share = np.full(n_rows, np.nan)
        unscored = np.zeros(n_rows, dtype=bool)
        filling = detection.filling
        filled_share[rows] = 0.0 if filling is None else filling.filled_share
        if filling is not None:
            unscored[rows] = ~filling.scored
        return cls(scores, is_anomaly, contributions, filled_share, unscored)
