"""A loaded model: scale, temporalize, reconstruct, score, flag, explain. No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.engines import Engine, Progress
from models.errors import FeatureMismatch, InvalidInput, ModelFault, NonFiniteValues
from models.onnx_scoring import RowScorer
from models.scaling import Scaler
from models.scoring import Event, WindowErrors, find_events, joined, severity, window_errors
from models.spec import DetectorSpec
from models.thresholds import sustained
from models.windows import temporalize, transform_windows, window_end_rows
from models.wording import plural

if TYPE_CHECKING:
    from models.training import TrainedModel


@dataclass(frozen=True, slots=True)
class Detection:
    threshold: float
    window_end_rows: np.ndarray  # (n_windows,) index of the row each window's result belongs to
    scores: np.ndarray  # (n_windows,) reconstruction MSE
    is_anomaly: np.ndarray  # (n_windows,) score > threshold
    severity: np.ndarray  # (n_windows,) in [0, 1)
    contributions: np.ndarray  # (n_windows, n_features), rows sum to 1
    events: list[Event]

    def newest(self) -> Detection:
        """Only the last window's result, its alarm already decided with the windows before it."""
        last = slice(-1, None)
        scores, is_anomaly, contributions = (
            self.scores[last],
            self.is_anomaly[last],
            self.contributions[last],
        )
        return Detection(
            threshold=self.threshold,
            window_end_rows=self.window_end_rows[last],
            scores=scores,
            is_anomaly=is_anomaly,
            severity=self.severity[last],
            contributions=contributions,
            events=find_events(is_anomaly, scores, contributions),
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
        self._normal_median = spec.validation_error_quantiles["0.5"]
        weights = spec.error_weights
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float64)

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

    def detect(
        self, values: np.ndarray, threshold: float | None = None, progress: Progress | None = None
    ) -> Detection:
        """values  # (n_rows, n_features) in the model's feature order, raw units

        `progress(done, total)` hears how many windows are reconstructed, chunk by chunk.
        """
        return self._detect_rows(values, threshold, newest_only=False, progress=progress)

    def detect_last(self, values: np.ndarray, threshold: float | None = None) -> Detection:
        """Only the newest window: the call a dashboard makes on every refresh."""
        return self._detect_rows(values, threshold, newest_only=True)

    def detect_windows(self, windows: np.ndarray, threshold: float | None = None) -> Detection:
        """windows  # (n_windows, lookback, n_features), already temporalized, raw units"""
        self._check_shape(windows, windows.ndim == 3, "windows x lookback x features")
        _check_finite(windows)
        if windows.shape[1] != self.lookback:
            raise InvalidInput(
                f"each window must have {plural(self.lookback, 'row')} (the lookback), "
                f"got {windows.shape[1]}"
            )
        n_windows = windows.shape[0]
        scaled = self.scaler.transform(windows.reshape(-1, windows.shape[2]))
        scaled_windows = scaled.reshape(n_windows, self.lookback, -1)
        return self._decide(self._window_errors(scaled_windows), np.arange(n_windows), threshold)

    def _detect_rows(
        self,
        values: np.ndarray,
        threshold: float | None,
        newest_only: bool,
        progress: Progress | None = None,
    ) -> Detection:
        self._check_shape(values, values.ndim == 2, "rows x features")
        n_rows = len(values)
        # the windows before the newest that the alarm rule looks at (spec.alarm_after)
        earlier = self.spec.alarm_after - 1 if newest_only else 0
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

    def _window_errors(self, windows: np.ndarray, progress: Progress | None = None) -> WindowErrors:
        """windows  # (n_windows, lookback, n_features), scaled"""
        transform, score_on, weights = self.spec.window_transform, self.spec.score_on, self._weights

        def chunk_errors(chunk: np.ndarray, reconstructed: np.ndarray) -> WindowErrors:
            return window_errors(chunk, reconstructed, score_on, weights)

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
        self, errors: WindowErrors, end_rows: np.ndarray, threshold: float | None
    ) -> Detection:
        """Alarms, severities and events from each window's errors (finite scores)."""
        if threshold is None:  # the request's own threshold, else the model's
            threshold = self.threshold
        is_anomaly = sustained(errors.scores > threshold, self.spec.alarm_after)
        return Detection(
            threshold=threshold,
            window_end_rows=end_rows,
            scores=errors.scores,
            is_anomaly=is_anomaly,
            severity=severity(errors.scores, threshold, self._normal_median),
            contributions=errors.contributions,
            events=find_events(is_anomaly, errors.scores, errors.contributions),
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


@dataclass(frozen=True, slots=True)
class RowScores:
    """A detection laid out one entry per input row; rows that end no window get NaN / False."""

    scores: np.ndarray  # (n_rows,) NaN for the first lookback-1 rows
    is_anomaly: np.ndarray  # (n_rows,) bool
    contributions: np.ndarray  # (n_rows, n_features) NaN where there is no score

    @classmethod
    def of(cls, detection: Detection, n_rows: int) -> RowScores:
        rows = detection.window_end_rows
        scores = np.full(n_rows, np.nan)
        scores[rows] = detection.scores
        is_anomaly = np.zeros(n_rows, dtype=bool)
        is_anomaly[rows] = detection.is_anomaly
        contributions = np.full((n_rows, detection.contributions.shape[1]), np.nan)
        contributions[rows] = detection.contributions
        return cls(scores, is_anomaly, contributions)
