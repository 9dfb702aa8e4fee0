"""The alarm hold (`alarm_hold`, issue 17): an alarm stays raised that many windows after the rule
last fired, causally, the same in every answer; models stored before it load with no hold."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.data import select
from models.describe import describe
from models.detector import Detector
from models.errors import InvalidInput
from models.loading import load_detector
from models.spec import MAX_ALARM_AFTER, DetectorSpec, TrainingOptions
from models.thresholds import alarm_rule, held, held_scores, sustained
from models.training import train_detector
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame, with_fault

flags = arrays(np.bool_, st.integers(0, 40))


def with_rule(tiny_model: TinyModel, alarm_after: int, alarm_hold: int) -> Detector:
    loaded = load_detector(tiny_model.store, tiny_model.name)
    spec = loaded.spec.model_copy(update={"alarm_after": alarm_after, "alarm_hold": alarm_hold})
    return Detector(loaded.name, loaded.version, spec, loaded.engine)


def faulty_values() -> np.ndarray:
    """Two faults 10 rows apart: fragments a hold of 10 windows or more merges."""
    frame = with_fault(with_fault(tiny_frame(160, seed=42), 70), 86)
    return frame[TINY_FEATURES].to_numpy(copy=True)


def test_an_alarm_is_held_that_many_windows_after_the_rule_last_fired() -> None:
    fired = np.zeros(14, bool)
    fired[[2, 3, 9]] = True
    np.testing.assert_array_equal(held(fired, 0), fired)
    np.testing.assert_array_equal(np.flatnonzero(held(fired, 2)), [2, 3, 4, 5, 9, 10, 11])
    np.testing.assert_array_equal(np.flatnonzero(held(fired, 5)), np.arange(2, 14))
    with pytest.raises(InvalidInput):
        held(fired, -1)


@given(flags, st.integers(0, 12), st.integers(0, 40))
def test_the_hold_never_looks_ahead(alarms: np.ndarray, hold: int, cut: int) -> None:
    np.testing.assert_array_equal(held(alarms[:cut], hold), held(alarms, hold)[:cut])
    np.testing.assert_array_equal(
        alarm_rule(alarms[:cut], 3, hold), alarm_rule(alarms, 3, hold)[:cut]
    )


@given(
    arrays(np.float64, st.integers(0, 40), elements=st.floats(0, 10)),
    st.integers(0, 8),
    st.floats(0, 10),
)
def test_the_hold_is_a_plain_threshold_on_its_scores(
    scores: np.ndarray, hold: int, threshold: float
) -> None:
    np.testing.assert_array_equal(
        held(scores > threshold, hold), held_scores(scores, hold) > threshold
    )


def test_the_detector_applies_the_rule_then_the_hold_and_only_causally(
    tiny_model: TinyModel,
) -> None:
    detector = with_rule(tiny_model, alarm_after=3, alarm_hold=10)
    values = faulty_values()
    whole = detector.detect(values)
    exceeds = whole.scores > whole.threshold
    np.testing.assert_array_equal(whole.is_anomaly, held(sustained(exceeds, 3), 10))
    assert (whole.is_anomaly & ~exceeds).any(), "the hold raised windows under the threshold"
    assert len(whole.events) == 1, "the two faults' fragments are one event"
    lookback = detector.lookback
    for n_rows in range(lookback, len(values) + 1, 7):  # a prefix answers as the whole did
        prefix = detector.detect(values[:n_rows])
        np.testing.assert_array_equal(prefix.is_anomaly, whole.is_anomaly[: n_rows - lookback + 1])


def test_detect_last_is_the_last_window_of_detect_and_reads_the_windows_the_hold_needs(
    tiny_model: TinyModel,
) -> None:
    detector = with_rule(tiny_model, alarm_after=3, alarm_hold=6)
    assert detector.earlier_windows() == 6 + 2
    needed = detector.lookback + detector.earlier_windows()
    values = faulty_values()
    whole = detector.detect(values)
    for n_rows in range(needed, len(values) + 1):
        last = detector.detect_last(values[:n_rows])
        assert last.window_end_rows[0] == n_rows - 1
        assert last.is_anomaly[0] == whole.is_anomaly[n_rows - detector.lookback], n_rows
        short = detector.detect_last(values[n_rows - needed : n_rows])
        assert short.is_anomaly[0] == last.is_anomaly[0], n_rows
    # the last window the hold raises needs every window it counts: one row fewer lowers it
    fired = sustained(whole.scores > whole.threshold, 3)
    newest = int(np.flatnonzero(fired)[-1]) + 6
    assert whole.is_anomaly[newest]
    end = newest + detector.lookback
    assert detector.detect_last(values[end - needed : end]).is_anomaly[0]
    assert not detector.detect_last(values[end - needed + 1 : end]).is_anomaly[0]


def test_a_hold_never_raises_a_window_left_unscored(tiny_model: TinyModel) -> None:
    hold = 12
    values = faulty_values()
    values[80:85, 0] = np.nan  # past max_gap: the windows holding it are not scored
    plain = with_rule(tiny_model, 1, 0).detect(values)
    whole = with_rule(tiny_model, 1, hold).detect(values)
    assert plain.filling is not None
    scored = plain.filling.scored
    np.testing.assert_array_equal(whole.is_anomaly, held(plain.is_anomaly, hold) & scored)
    assert (held(plain.is_anomaly, hold) & ~scored).any(), "the gap lies inside a hold"
    assert (whole.is_anomaly & ~plain.is_anomaly).any()


def test_the_hold_is_a_stored_training_option_checked_on_the_way_in() -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    spec = train_detector(data, TINY_OPTIONS.changed(epochs=2, alarm_hold=7)).spec
    assert spec.alarm_hold == 7
    assert spec.options is not None
    assert spec.options.alarm_hold == 7
    assert TrainingOptions().alarm_hold == 9  # the default since the three-seed table
    for bad in (-1, MAX_ALARM_AFTER + 1):
        with pytest.raises(InvalidInput, match="alarm_hold"):
            TrainingOptions.of({"alarm_hold": bad})


def test_a_detector_json_written_before_the_hold_loads_without_one(tiny_model: TinyModel) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    old = spec.model_dump(mode="json")
    old.pop("alarm_hold")
    assert old["options"] is not None
    old["options"].pop("alarm_hold")
    loaded = DetectorSpec.model_validate(old)
    assert loaded.alarm_hold == 0
    assert loaded.options is not None
    assert loaded.options.alarm_hold == 0  # as trained then, not today's default
    assert spec.options is not None
    assert loaded.options == spec.options.changed(alarm_hold=0)
    assert loaded.model_dump(exclude={"alarm_hold", "options"}) == spec.model_dump(
        exclude={"alarm_hold", "options"}
    )


def test_options_written_before_the_floor_read_as_trained_without_it(
    tiny_model: TinyModel,
) -> None:
    _, spec, _ = tiny_model.store.read(tiny_model.name)
    old = spec.model_dump(mode="json")
    old["options"].pop("relative_scale_floor")
    loaded = DetectorSpec.model_validate(old)
    assert loaded.options is not None
    assert loaded.options.relative_scale_floor == 0.0
    assert TrainingOptions().relative_scale_floor == 0.01
    assert DetectorSpec.model_validate(spec.model_dump(mode="json")) == spec  # present: kept


def test_the_models_description_says_the_alarm_rule_when_there_is_one(
    tiny_model: TinyModel,
) -> None:
    spec = with_rule(tiny_model, alarm_after=3, alarm_hold=9).spec
    lines = describe("tiny", 1, spec).splitlines()
    assert (
        "alarm: 3 windows in a row over the threshold, held 9 windows after (alarm_after 3, "
        "alarm_hold 9)"
    ) in lines
    plain = with_rule(tiny_model, alarm_after=1, alarm_hold=0).spec
    assert not any(line.startswith("alarm:") for line in describe("tiny", 1, plain).splitlines())
