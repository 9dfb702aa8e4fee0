"""Scoring options: last-step scores, per-feature error weights, centred windows; all stored in
detector.json with defaults, so files written before them still load."""

from pathlib import Path

import numpy as np
import pytest

from models.artifact import ModelStore
from models.data import select
from models.loading import load_detector
from models.scoring import (
    ErrorWeighting,
    ScoreOn,
    normal_error_weights,
    smooth_scores,
    window_errors,
)
from models.spec import DetectorSpec
from models.training import store_trained, train_detector
from models.windows import WindowTransform, transform_windows
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame

QUICK = TINY_OPTIONS.changed(epochs=2)


def test_the_last_step_score_is_the_mse_of_the_last_row_only() -> None:
    windows = np.zeros((1, 4, 2), np.float32)
    reconstructed = windows.copy()
    reconstructed[0, 0, 0] = 10.0  # an early row, ignored by the last-step score
    reconstructed[0, -1, 1] = 2.0
    errors = window_errors(windows, reconstructed, ScoreOn.LAST_STEP)
    assert errors.scores[0] == pytest.approx(4.0 / 2)
    np.testing.assert_allclose(errors.contributions[0], [0.0, 1.0])
    assert window_errors(windows, reconstructed).scores[0] == pytest.approx(104.0 / 8)


def test_weights_divide_each_features_squared_error() -> None:
    windows = np.zeros((1, 2, 2), np.float32)
    reconstructed = np.ones((1, 2, 2), np.float32)
    errors = window_errors(windows, reconstructed, weights=np.array([1.0, 4.0]))
    assert errors.scores[0] == pytest.approx((1 + 0.25) / 2)
    np.testing.assert_allclose(errors.contributions[0], [0.8, 0.2])


def test_normal_error_weights_are_each_features_mean_squared_error_floored() -> None:
    windows = np.zeros((3, 2, 3), np.float32)
    reconstructed = windows.copy()
    reconstructed[:, :, 0] = 2.0
    reconstructed[:, :, 1] = 1.0  # feature 2 is reconstructed perfectly
    weights = normal_error_weights(windows, reconstructed)
    np.testing.assert_allclose(weights[:2], [4.0, 1.0])
    assert weights[2] == pytest.approx(0.01 * 5 / 3)  # floored at 1 % of the mean


def test_centring_removes_each_windows_level_per_feature() -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(6, 5, 3)).astype(np.float32)
    centred = transform_windows(windows, WindowTransform.CENTER)
    np.testing.assert_allclose(centred.mean(axis=1), 0.0, atol=1e-6)
    shifted = transform_windows(windows + np.float32(7.0), WindowTransform.CENTER)
    np.testing.assert_allclose(shifted, centred, atol=1e-5)
    assert transform_windows(windows, WindowTransform.NONE) is windows


def test_a_detector_json_written_before_the_options_loads_with_the_old_behaviour(
    tiny_model: TinyModel,
) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    old = spec.model_dump(mode="json")
    for key in ("score_on", "window_transform", "error_weights"):
        old.pop(key)
    loaded = DetectorSpec.model_validate(old)
    assert loaded.score_on is ScoreOn.WINDOW
    assert loaded.window_transform is WindowTransform.NONE
    assert loaded.error_weights is None


def test_error_weights_must_be_one_positive_number_per_feature(tiny_model: TinyModel) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    data = spec.model_dump(mode="json")
    for weights in ([1.0], [1.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match="error_weights"):
            DetectorSpec.model_validate({**data, "error_weights": weights})


def test_a_model_trained_with_the_options_stores_and_applies_them(tmp_path: Path) -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    options = QUICK.changed(
        score_on=ScoreOn.LAST_STEP,
        window_transform=WindowTransform.CENTER,
        error_weighting=ErrorWeighting.NORMAL_SPREAD,
    )
    trained = train_detector(data, options)
    spec = trained.spec
    assert spec.score_on is ScoreOn.LAST_STEP
    assert spec.window_transform is WindowTransform.CENTER
    assert spec.error_weights is not None
    assert len(spec.error_weights) == len(TINY_FEATURES)
    assert spec.threshold.value == pytest.approx(
        spec.threshold.margin * spec.validation_error_quantiles["0.99"]
    )

    store = ModelStore(tmp_path)
    store_trained(store, "options", trained)
    detector = load_detector(store, "options")
    assert detector.spec == spec
    values = tiny_frame(120, seed=5)[TINY_FEATURES].to_numpy()
    # centred windows: a level shift of every feature leaves every score as it was
    np.testing.assert_allclose(
        detector.detect(values + 3.0).scores, detector.detect(values).scores, rtol=1e-3, atol=1e-6
    )


def test_smoothing_averages_each_score_with_the_ones_before_it() -> None:
    scores = np.array([0.0, 3.0, 0.0, 6.0, 6.0])
    np.testing.assert_allclose(smooth_scores(scores, 2), [0.0, 1.5, 1.5, 3.0, 6.0])
    np.testing.assert_allclose(smooth_scores(scores, 3), [0.0, 1.5, 1.0, 3.0, 4.0])
    np.testing.assert_array_equal(smooth_scores(scores, 1), scores)
    with pytest.raises(ValueError, match="span"):
        smooth_scores(scores, 0)
