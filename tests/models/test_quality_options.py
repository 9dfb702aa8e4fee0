"""The later quality options: robust scaling, differenced windows, the curve shift as a training
option, the threshold margin and the alarm rule (windows in a row); stored in detector.json
with defaults, so files written before them still load with the old behaviour."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.data import label_before_events, select
from models.describe import describe
from models.detector import Detector
from models.errors import InvalidInput
from models.loading import load_detector
from models.scaling import NORMAL_IQR, Scaler, Scaling
from models.spec import DetectorSpec
from models.thresholds import sustained, sustained_scores
from models.training import train_detector
from models.windows import WindowTransform, transform_windows
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame, with_fault

QUICK = TINY_OPTIONS.changed(epochs=2)


# ---------------------------------------------------------------- robust scaling


def test_robust_scaling_uses_the_median_and_the_normalised_interquartile_range() -> None:
    rows = np.arange(1.0, 101.0)[:, None]  # 1..100
    scaler = Scaler.fit(rows, Scaling.ROBUST)
    q25, median, q75 = np.quantile(rows, [0.25, 0.5, 0.75])
    assert scaler.mean[0] == pytest.approx(median)
    assert scaler.scale[0] == pytest.approx((q75 - q25) / NORMAL_IQR)


def test_a_few_huge_rows_move_neither_the_robust_centre_nor_its_spread() -> None:
    rows = np.random.default_rng(0).normal(5.0, 2.0, size=(1000, 1))
    spoiled = rows.copy()
    spoiled[:20] = 1e4
    robust, plain = Scaler.fit(rows, Scaling.ROBUST), Scaler.fit(spoiled, Scaling.ROBUST)
    assert plain.mean[0] == pytest.approx(robust.mean[0], abs=0.2)
    assert plain.scale[0] == pytest.approx(robust.scale[0], rel=0.1)
    assert Scaler.fit(spoiled).scale[0] > 100 * robust.scale[0]  # the standard one explodes


def test_a_feature_with_no_interquartile_range_falls_back_to_its_standard_deviation() -> None:
    rare = np.zeros((100, 1))
    rare[:3] = 10.0  # almost always 0: the interquartile range is 0
    constant = np.full((100, 1), 7.0)
    scaler = Scaler.fit(np.hstack([rare, constant]), Scaling.ROBUST)
    assert scaler.scale[0] == pytest.approx(float(rare.std()))
    assert scaler.scale[1] == 1.0  # constant: centred, not divided


# ---------------------------------------------------------------- relative scale floor


def test_the_relative_floor_lifts_only_the_spreads_below_that_share_of_the_level() -> None:
    rng = np.random.default_rng(0)
    thermocouple = 27.0 + rng.normal(0.0, 0.001, size=(400, 1))  # barely moves in training
    pressure = rng.normal(0.0, 2.0, size=(400, 1))  # level 0: no floor at all
    at_zero = np.zeros((400, 1))  # constant at 0
    rows = np.hstack([thermocouple, pressure, at_zero])
    plain, floored = Scaler.fit(rows), Scaler.fit(rows, relative_floor=0.01)
    assert plain.scale[0] == pytest.approx(float(thermocouple.std()))
    assert floored.scale[0] == pytest.approx(0.01 * abs(floored.mean[0]))
    assert floored.scale[1] == plain.scale[1]
    assert floored.scale[2] == plain.scale[2] == 1.0  # centred, not divided
    # a drift of 0.5 degrees: hundreds of training spreads, a couple of floored ones
    drifted = np.array([[27.5, 0.0, 0.0]])
    assert abs(plain.transform(drifted)[0, 0]) > 100
    assert 1 < abs(floored.transform(drifted)[0, 0]) < 3


def test_the_relative_floor_is_a_stored_option_that_changes_only_the_scale() -> None:
    frame = tiny_frame(seed=0)
    frame["a"] += 100.0  # a level far above its spread: the one feature the floor lifts
    data = select(frame, time_column="time", label_column="y")
    model = train_detector(data, QUICK.changed(relative_scale_floor=0.1))
    reference = train_detector(data, QUICK.changed(relative_scale_floor=0.0))
    assert model.spec.options is not None
    assert model.spec.options.relative_scale_floor == 0.1
    assert model.spec.scaler.mean == reference.spec.scaler.mean
    a, b, c = model.spec.scaler.scale
    assert a == pytest.approx(0.1 * abs(model.spec.scaler.mean[0]))
    assert (b, c) == tuple(reference.spec.scaler.scale[1:])
    stored = DetectorSpec.model_validate_json(model.spec.model_dump_json())
    assert stored.options is not None
    assert stored.options.relative_scale_floor == 0.1
    said = describe("tiny", 1, stored).splitlines()
    assert "scaling: standard, each scale at least 0.1 x its feature's training level" in said
    assert not any(
        line.startswith("scaling:") for line in describe("tiny", 1, reference.spec).splitlines()
    )
    with pytest.raises(InvalidInput, match="relative_scale_floor"):
        QUICK.changed(relative_scale_floor=1.0)


@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=st.floats(-1e6, 1e6)
    )
)
def test_finite_rows_scale_robustly_to_finite_float32(rows: np.ndarray) -> None:
    scaled = Scaler.fit(rows, Scaling.ROBUST).transform(rows)
    assert scaled.shape == rows.shape
    assert np.isfinite(scaled).all()


# ---------------------------------------------------------------- differenced windows


def test_differencing_leaves_each_rows_step_from_the_row_before() -> None:
    windows = np.array([[[1.0, 10.0], [3.0, 10.0], [6.0, 4.0]]], np.float32)
    differenced = transform_windows(windows, WindowTransform.DIFFERENCE)
    np.testing.assert_array_equal(differenced[0], [[0.0, 0.0], [2.0, 0.0], [3.0, -6.0]])
    assert differenced.shape == windows.shape


def test_a_level_shift_of_a_whole_window_vanishes_when_differenced() -> None:
    windows = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    shifted = windows + np.float32(100.0)
    np.testing.assert_allclose(
        transform_windows(shifted, WindowTransform.DIFFERENCE),
        transform_windows(windows, WindowTransform.DIFFERENCE),
        atol=1e-4,
    )


# ---------------------------------------------------------------- the curve shift


def test_the_rows_before_each_event_are_labelled_too_and_the_events_stay() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 0, 1, 0], np.int8)
    np.testing.assert_array_equal(label_before_events(labels, 2), [0, 0, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(label_before_events(labels, 0), labels)
    np.testing.assert_array_equal(label_before_events(np.array([1, 0]), 3), [1, 0])
    with pytest.raises(InvalidInput):
        label_before_events(labels, -1)


def test_a_shift_keeps_the_windows_before_an_event_out_of_training() -> None:
    frame = with_fault(tiny_frame(300), start=100, length=2)
    data = select(frame, time_column="time", label_column="y")
    plain = train_detector(data, QUICK).spec.training
    shifted = train_detector(data, QUICK.changed(shift=6)).spec.training
    assert plain.train_windows - shifted.train_windows == 6
    assert shifted.shift == 6
    assert plain.shift == 0


# ---------------------------------------------------------------- margin and alarm rule


def test_an_alarm_needs_that_many_windows_in_a_row_above_the_threshold() -> None:
    exceeds = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1], bool)
    np.testing.assert_array_equal(sustained(exceeds, 1), exceeds)
    np.testing.assert_array_equal(
        sustained(exceeds, 3), np.array([0, 0, 0, 0, 0, 1, 1, 0, 0], bool)
    )
    with pytest.raises(InvalidInput):
        sustained(exceeds, 0)


@given(
    arrays(np.float64, st.integers(0, 40), elements=st.floats(0, 10)),
    st.integers(1, 6),
    st.floats(0, 10),
)
def test_the_alarm_rule_is_a_plain_threshold_on_its_scores(
    scores: np.ndarray, k: int, threshold: float
) -> None:
    np.testing.assert_array_equal(
        sustained(scores > threshold, k), sustained_scores(scores, k) > threshold
    )


def test_the_margin_and_the_alarm_rule_are_stored_and_applied() -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    plain = train_detector(data, QUICK.changed(threshold_margin=1.0)).spec
    options = QUICK.changed(threshold_margin=1.5, alarm_after=3)
    spec = train_detector(data, options).spec
    assert spec.threshold.value == pytest.approx(1.5 * plain.threshold.value)
    assert spec.threshold.margin == 1.5
    assert spec.alarm_after == 3


def test_the_newest_window_alarms_as_it_does_in_the_whole_series(tiny_model: TinyModel) -> None:
    loaded = load_detector(tiny_model.store, tiny_model.name)
    spec = loaded.spec.model_copy(update={"alarm_after": 3})
    detector = Detector(loaded.name, loaded.version, spec, loaded.engine)
    values = with_fault(tiny_frame(80, seed=42), start=70, length=10)[TINY_FEATURES].to_numpy()
    whole = detector.detect(values)
    exceeds = whole.scores > whole.threshold
    np.testing.assert_array_equal(whole.is_anomaly, sustained(exceeds, 3))
    assert whole.is_anomaly.any()  # the fault lasts long enough to raise the alarm
    for n_rows in range(60, 81):
        last = detector.detect_last(values[:n_rows])
        assert len(last.scores) == 1
        assert last.window_end_rows[0] == n_rows - 1
        assert last.is_anomaly[0] == whole.is_anomaly[n_rows - spec.lookback]


def test_a_detector_json_written_before_these_options_loads_with_the_old_behaviour(
    tiny_model: TinyModel,
) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    old = spec.model_dump(mode="json")
    old.pop("alarm_after")
    old["scaler"].pop("method")
    old["threshold"].pop("margin")
    old["training"].pop("shift")
    loaded = DetectorSpec.model_validate(old)
    assert loaded.alarm_after == 1
    assert loaded.scaler.method is Scaling.STANDARD
    assert loaded.threshold.margin == 1.0
    assert loaded.training.shift == 0


def test_robust_scaling_is_stored_with_the_model_and_used_when_scoring(
    tiny_model: TinyModel,
) -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    spec = train_detector(data, QUICK.changed(scaling=Scaling.ROBUST)).spec
    assert spec.scaler.method is Scaling.ROBUST
    train_rows = data.values[: 300 - 75]
    np.testing.assert_allclose(spec.scaler.mean, np.median(train_rows, axis=0))
