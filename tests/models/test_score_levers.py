"""Issue 17's score levers: per-feature error standardisation and causal smoothing, stored in
detector.json and applied by Detector.detect (both engines, the fused graph too)."""

from pathlib import Path

import numpy as np
import pytest

from models.artifact import ModelStore
from models.data import select
from models.errors import InvalidInput
from models.loading import load_detector
from models.scoring import (
    MAX_STANDARDISED_ERROR,
    SPREAD_FLOOR_SHARE,
    ErrorStandard,
    ErrorStandardisation,
    ErrorWeighting,
    WindowErrors,
    normal_error_standard,
    smooth_scores,
    smoothed,
    window_errors,
)
from models.spec import DetectorSpec, ErrorStandardSpec, TrainingOptions
from models.training import store_trained, train_detector
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame, with_fault

QUICK = TINY_OPTIONS.changed(epochs=2)


def test_standardised_errors_count_each_feature_in_its_own_normal_spread() -> None:
    standard = ErrorStandard(
        ErrorStandardisation.MEAN_SQUARE, np.array([1.0, 0.0]), np.array([0.5, 2.0])
    )
    windows = np.zeros((3, 2, 2), np.float32)
    reconstructed = windows.copy()
    reconstructed[0] = [[2.0, 4.0], [2.0, 4.0]]  # rms 2 and 4: z = 2 and 2
    reconstructed[1] = [[0.5, 0.0], [0.5, 0.0]]  # below the first feature's median: z = 0
    reconstructed[2] = [[1.0, 1e6], [1.0, 1e6]]  # far out on the second: clipped
    errors = window_errors(windows, reconstructed, standard=standard)
    np.testing.assert_allclose(errors.scores, [(4 + 4) / 2, 0.0, MAX_STANDARDISED_ERROR**2 / 2])
    np.testing.assert_allclose(errors.contributions, [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]])
    largest = ErrorStandard(ErrorStandardisation.MAX, standard.centre, standard.spread)
    np.testing.assert_allclose(
        window_errors(windows, reconstructed, standard=largest).scores,
        [2.0, 0.0, MAX_STANDARDISED_ERROR],
    )


def test_a_feature_constant_in_training_gets_a_floored_spread_not_zero() -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(200, 4, 3)).astype(np.float32)
    reconstructed = windows + rng.normal(scale=[0.5, 1.0, 0.0], size=windows.shape).astype(
        np.float32
    )
    standard = normal_error_standard(windows, reconstructed, ErrorStandardisation.MEAN_SQUARE)
    assert standard.centre[2] == 0.0
    # the median of the three spreads before the floor is the first feature's
    assert standard.spread[2] == pytest.approx(SPREAD_FLOOR_SHARE * standard.spread[0])
    assert standard.spread[0] < standard.spread[1]
    moved = windows.copy()
    moved[:, :, 2] += 1000.0  # the constant feature moves by a lot: an alarm, but bounded
    scores = window_errors(moved, reconstructed, standard=standard).scores
    assert np.isfinite(scores).all()
    assert scores.max() <= MAX_STANDARDISED_ERROR**2


def test_smoothing_averages_scores_and_shares_over_the_windows_before() -> None:
    errors = WindowErrors(
        scores=np.array([0.0, 3.0, 1.0, 2.0]),
        contributions=np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
    )
    out = smoothed(errors, 2)
    np.testing.assert_allclose(out.scores, smooth_scores(errors.scores, 2))
    np.testing.assert_allclose(out.scores, [0.0, 1.5, 2.0, 1.5])
    np.testing.assert_allclose(out.contributions[0], [0.5, 0.5])  # no error: shared equally
    np.testing.assert_allclose(out.contributions[2], [0.75, 0.25])
    np.testing.assert_allclose(out.contributions.sum(axis=1), 1.0)
    assert smoothed(errors, 1) is errors
    # a window not scored counts in no mean
    gap = smoothed(errors, 2, np.array([True, False, True, True]))
    np.testing.assert_allclose(gap.scores[[0, 2, 3]], [0.0, 1.0, 1.5])


def test_weighting_and_standardisation_are_refused_together() -> None:
    with pytest.raises(InvalidInput, match="choose one"):
        TrainingOptions().changed(
            error_weighting=ErrorWeighting.NORMAL_SPREAD,
            error_standardisation=ErrorStandardisation.MAX,
        )
    with pytest.raises(InvalidInput, match="smoothing"):
        TrainingOptions.of({"smoothing": 0})


@pytest.mark.parametrize(
    ("aggregation", "smoothing"),
    [(ErrorStandardisation.MEAN_SQUARE, 1), (ErrorStandardisation.MAX, 3), ("none", 4)],
)
def test_a_model_trained_with_a_lever_stores_it_and_scores_with_it(
    tmp_path: Path, aggregation: str, smoothing: int
) -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    options = QUICK.changed(error_standardisation=aggregation, smoothing=smoothing)
    trained = train_detector(data, options)
    spec = trained.spec
    assert spec.smoothing == smoothing
    if aggregation == "none":
        assert spec.error_standard is None
    else:
        assert spec.error_standard is not None
        assert spec.error_standard.aggregation == aggregation
        assert len(spec.error_standard.spread) == len(TINY_FEATURES)
    assert spec.threshold.value == pytest.approx(
        spec.threshold.margin * spec.validation_error_quantiles["0.99"]
    )

    store = ModelStore(tmp_path)
    store_trained(store, "lever", trained)
    for engine in ("onnx", "tensorflow"):
        detector = load_detector(store, "lever", engine=engine)
        assert detector.spec == spec
        assert (detector.row_scorer is not None) == (engine == "onnx")
        values = with_fault(tiny_frame(120, seed=5), 60)[TINY_FEATURES].to_numpy()
        whole = detector.detect(values)
        np.testing.assert_allclose(whole.contributions.sum(axis=1), 1.0)
        # the newest window alone, from just the rows it needs, as in the whole request
        needed = detector.lookback + (spec.alarm_after - 1) + (smoothing - 1)
        last = detector.detect_last(values[-needed:])
        np.testing.assert_allclose(last.scores, whole.scores[-1:], rtol=1e-9)
        np.testing.assert_allclose(last.contributions, whole.contributions[-1:], rtol=1e-9)
        if engine == "onnx":
            plain = load_detector(store, "lever", engine="tensorflow").detect(values)
            np.testing.assert_allclose(whole.scores, plain.scores, rtol=1e-5)


def test_a_detector_json_written_before_the_levers_loads_without_them(
    tiny_model: TinyModel,
) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    old = spec.model_dump(mode="json")
    for key in ("error_standard", "smoothing"):
        old.pop(key)
    for key in ("error_standardisation", "smoothing"):
        old["options"].pop(key)
    loaded = DetectorSpec.model_validate(old)
    assert loaded.error_standard is None
    assert loaded.smoothing == 1
    assert loaded.options is not None
    assert loaded.options.error_standardisation is ErrorStandardisation.NONE
    assert loaded == spec


def test_a_stored_standard_needs_one_centre_and_spread_per_feature(tiny_model: TinyModel) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    data = spec.model_dump(mode="json")
    good = {"aggregation": "max", "centre": [0.1] * 3, "spread": [0.2] * 3}
    assert DetectorSpec.model_validate({**data, "error_standard": good}).error_standard == (
        ErrorStandardSpec.model_validate(good)
    )
    for bad in (
        {**good, "centre": [0.1] * 2},
        {**good, "spread": [0.2, 0.0, 0.2]},
        {**good, "aggregation": "none"},
    ):
        with pytest.raises(ValueError, match="error_standard"):
            DetectorSpec.model_validate({**data, "error_standard": bad})
