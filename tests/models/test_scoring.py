import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.scoring import find_events, severity, window_errors


def test_the_score_is_the_mse_over_the_window_and_the_guilty_feature_gets_the_share() -> None:
    windows = np.zeros((1, 4, 3), np.float32)
    reconstructed = windows.copy()
    reconstructed[0, :, 2] = 1.0  # feature 2 is off by 1 at every step
    reconstructed[0, 0, 0] = 1.0  # feature 0 is off once
    errors = window_errors(windows, reconstructed)
    assert errors.scores[0] == pytest.approx(5 / 12)
    np.testing.assert_allclose(errors.contributions[0], [0.2, 0.0, 0.8])


def test_a_perfect_reconstruction_shares_its_zero_error_equally() -> None:
    windows = np.ones((2, 3, 4), np.float32)
    errors = window_errors(windows, windows)
    np.testing.assert_array_equal(errors.scores, [0, 0])
    np.testing.assert_allclose(errors.contributions, 0.25)


@given(
    arrays(np.float32, (5, 3, 2), elements=st.floats(-100, 100, width=32)),
    arrays(np.float32, (5, 3, 2), elements=st.floats(-100, 100, width=32)),
)
def test_scores_are_finite_and_contributions_sum_to_one(a: np.ndarray, b: np.ndarray) -> None:
    errors = window_errors(a, b)
    assert np.isfinite(errors.scores).all()
    assert (errors.scores >= 0).all()
    np.testing.assert_allclose(errors.contributions.sum(axis=1), 1.0, rtol=1e-9)


def test_severity_is_zero_up_to_the_threshold_and_grows_towards_one() -> None:
    scores = np.array([0.1, 1.0, 1.5, 2.0, 4.0, 8.0, 1e9])
    s = severity(scores, threshold=1.0, normal_median=0.5)  # one step = a factor of 2
    assert s[0] == 0
    assert s[1] == 0
    assert s[3] == pytest.approx(1 - np.exp(-1))  # one step past the threshold
    assert s[4] == pytest.approx(1 - np.exp(-2))
    assert s[5] == pytest.approx(1 - np.exp(-3))
    assert np.all(np.diff(s) >= 0)
    assert s[-1] <= 1.0


def test_severity_does_not_saturate_for_faults_ten_times_the_threshold() -> None:
    s = severity(np.array([10.0, 20.0]), threshold=1.0, normal_median=0.4)
    assert 0.9 < s[0] < s[1] < 0.99


def test_severity_falls_back_to_a_step_of_two_without_a_usable_median() -> None:
    for median in (0.0, 1.0, 3.0):
        assert severity(np.array([2.0]), 1.0, median)[0] == pytest.approx(1 - np.exp(-1))


def test_runs_of_anomalous_windows_become_events_with_peak_and_top_feature() -> None:
    flags = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
    scores = np.array([0, 2, 3, 0, 0, 5, 9, 4], float)
    contributions = np.tile([0.9, 0.1], (8, 1))
    contributions[5:] = [0.2, 0.8]
    events = find_events(flags, scores, contributions)
    assert [(e.start, e.end, e.peak, e.peak_score, e.top_feature) for e in events] == [
        (1, 2, 2, 3.0, 0),
        (5, 7, 6, 9.0, 1),
    ]


def test_no_anomalies_means_no_events() -> None:
    assert find_events(np.zeros(4, bool), np.zeros(4), np.full((4, 2), 0.5)) == []


def test_errors_too_large_for_float32_squares_still_give_finite_scores() -> None:
    windows = np.zeros((2, 3, 2), np.float32)
    reconstructed = np.full((2, 3, 2), 1e20, np.float32)  # squares overflow float32, not float64
    reconstructed[1] = 1.0
    errors = window_errors(windows, reconstructed)
    assert np.isfinite(errors.scores).all()
    assert errors.scores[0] == pytest.approx(1e40, rel=1e-6)
    assert errors.scores[1] == 1.0
    np.testing.assert_allclose(errors.contributions, 0.5)
