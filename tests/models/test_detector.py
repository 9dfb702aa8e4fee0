import numpy as np
import pytest

from models.detector import Detector, RowScores
from models.errors import FeatureMismatch, NonFiniteValues, NotEnoughRows
from models.loading import load_detector
from models.windows import temporalize
from tests.conftest import FAULT_FEATURE, TINY_FEATURES, TinyModel, tiny_frame, with_fault


@pytest.fixture(scope="module")
def detector(tiny_model: TinyModel) -> Detector:
    return load_detector(tiny_model.store, tiny_model.name)


def fresh_values(n_rows: int = 200, fault_at: int | None = None) -> np.ndarray:
    """Normal data the model has not seen (another noise seed), optionally with a fault."""
    frame = tiny_frame(n_rows, seed=42)
    if fault_at is not None:
        frame = with_fault(frame, fault_at)
    return frame[TINY_FEATURES].to_numpy()


def test_an_injected_fault_is_flagged_and_its_feature_named(detector: Detector) -> None:
    detection = detector.detect(fresh_values(fault_at=100))
    assert len(detection.events) >= 1
    event = max(detection.events, key=lambda e: e.peak_score)
    fault_windows = set(range(100 - 3, 106))  # windows whose rows touch rows 100..105
    assert event.peak in fault_windows
    assert detector.features[event.top_feature] == FAULT_FEATURE
    assert detection.severity[event.peak] > 0


def test_normal_data_stays_unflagged(detector: Detector) -> None:
    detection = detector.detect(fresh_values())
    assert detection.is_anomaly.mean() < 0.05
    assert (detection.severity[~detection.is_anomaly] == 0).all()


def test_one_score_per_window_each_belonging_to_its_last_row(detector: Detector) -> None:
    detection = detector.detect(fresh_values(50))
    assert len(detection.scores) == 50 - detector.lookback + 1
    assert detection.window_end_rows[0] == detector.lookback - 1
    np.testing.assert_allclose(detection.contributions.sum(axis=1), 1.0)


def test_the_newest_window_alone_scores_as_in_the_whole_series(detector: Detector) -> None:
    values = fresh_values(60, fault_at=55)
    whole, last = detector.detect(values), detector.detect_last(values)
    assert len(last.scores) == 1
    assert last.window_end_rows[0] == 59
    np.testing.assert_allclose(last.scores[0], whole.scores[-1], rtol=1e-5)


def test_pre_made_windows_score_as_the_series_they_came_from(detector: Detector) -> None:
    values = fresh_values(30)
    windows = np.ascontiguousarray(temporalize(values, detector.lookback))
    np.testing.assert_allclose(
        detector.detect_windows(windows).scores, detector.detect(values).scores, rtol=1e-5
    )


def test_a_threshold_override_applies_to_that_call_only(detector: Detector) -> None:
    values = fresh_values(40)
    assert detector.detect(values, threshold=1e-12).is_anomaly.all()
    assert not detector.detect(values, threshold=1e12).is_anomaly.any()
    assert detector.detect(values).threshold == detector.threshold


def test_row_scores_leave_the_first_rows_without_a_score(detector: Detector) -> None:
    rows = RowScores.of(detector.detect(fresh_values(20)), 20)
    assert np.isnan(rows.scores[: detector.lookback - 1]).all()
    assert np.isfinite(rows.scores[detector.lookback - 1 :]).all()
    assert not rows.is_anomaly[: detector.lookback - 1].any()


def test_bad_inputs_are_refused_with_what_is_expected(detector: Detector) -> None:
    with pytest.raises(FeatureMismatch, match="expected 3 features"):
        detector.detect(np.zeros((10, 2)))
    with pytest.raises(NotEnoughRows, match="at least 4"):
        detector.detect(np.zeros((3, 3)))
    with pytest.raises(NonFiniteValues):  # NaN is a missing value (test_missing_values.py)
        detector.detect(np.array([[0, 0, np.inf]] * 5))
    with pytest.raises(NonFiniteValues, match="overflows float32"):
        detector.detect(np.full((5, 3), 1e300))
