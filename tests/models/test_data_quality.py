"""The data-quality verdict: out-of-range values and windows, constant features, time steps."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.artifact import ModelStore
from models.data_quality import (
    MIN_ROWS_FOR_CONSTANT,
    TrainingStats,
    assess,
    time_seconds,
)
from models.loading import load_detector
from models.spec import DetectorSpec
from tests.conftest import TINY_FEATURES

# two features: a varied in training over [0, 10] with spread 2, b constant at 5 (spread 1)
STATS = TrainingStats(
    features=("a", "b"),
    low=np.array([0.0, 5.0]),
    high=np.array([10.0, 5.0]),
    spread=np.array([2.0, 1.0]),
    time_step_seconds=60.0,
)


def rows_of(a: list[float], b: float | list[float] = 5.0) -> np.ndarray:
    column_b = np.broadcast_to(np.asarray(b, dtype=np.float64), (len(a),))
    return np.column_stack([np.asarray(a, dtype=np.float64), column_b])


def test_values_outside_the_range_say_how_far_in_training_spreads_and_where() -> None:
    rows = rows_of([5, 11, 5, 18, 5, -3, 5])  # 0.5 spreads above, 4 above, 1.5 below
    verdict = assess(rows, STATS, lookback=2)
    (finding,) = verdict.out_of_range
    assert (finding.feature, finding.rows, finding.far_rows) == ("a", 3, 1)
    assert (finding.first_row, finding.worst_row, finding.side) == (1, 3, "above")
    assert finding.worst_spreads == pytest.approx(4.0)


def test_a_window_is_out_of_range_when_it_holds_a_far_value_and_names_the_features() -> None:
    rows = rows_of([5, 5, 5, 18, 5, 5, 5], b=[5, 5, 5, 5, 5, 5, 9])
    verdict = assess(rows, STATS, lookback=3)
    np.testing.assert_array_equal(verdict.window_end_rows, [2, 3, 4, 5, 6])
    # row 3 is in the windows ending on rows 3, 4 and 5; b's 9 (4 spreads) in the last one
    np.testing.assert_array_equal(verdict.windows_out_of_range, [False, True, True, True, True])
    assert verdict.window_dict(0) == {"out_of_range": False, "out_of_range_features": []}
    assert verdict.window_dict(3) == {"out_of_range": True, "out_of_range_features": ["a"]}
    assert verdict.window_dict(4)["out_of_range_features"] == ["b"]


def test_how_far_is_far_can_be_chosen() -> None:
    rows = rows_of([5, 13, 5])  # 1.5 spreads above
    assert assess(rows, STATS, lookback=1, far_spreads=1.0).windows_out_of_range.sum() == 1
    assert assess(rows, STATS, lookback=1, far_spreads=2.0).windows_out_of_range.sum() == 0


@given(
    far=hnp.arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 3))),
    lookback=st.integers(1, 8),
)
def test_window_flags_agree_with_looking_at_every_window(far: np.ndarray, lookback: int) -> None:
    n_rows, n_features = far.shape
    stats = TrainingStats(
        tuple(f"f{i}" for i in range(n_features)),
        np.zeros(n_features),
        np.ones(n_features),
        np.ones(n_features),
        None,
    )
    verdict = assess(np.where(far, 10.0, 0.5), stats, lookback)
    expected = [far[end - lookback + 1 : end + 1].any(axis=0) for end in verdict.window_end_rows]
    assert verdict.window_far.shape == (max(n_rows - lookback + 1, 0), n_features)
    np.testing.assert_array_equal(verdict.window_far, np.reshape(expected, (-1, n_features)))


def test_missing_cells_are_counted_never_out_of_range_and_fill_counts_are_carried() -> None:
    rows = rows_of([5, np.nan, np.nan, 5], b=[5, 5, np.nan, 5])
    verdict = assess(rows, STATS, lookback=2, filled=[2, 0])
    assert verdict.out_of_range == ()
    assert verdict.missing == (2, 1)
    assert verdict.as_dict()["missing"] == {"cells": 3, "per_feature": {"a": 2, "b": 1}}
    assert verdict.as_dict()["filled"] == {"cells": 2, "per_feature": {"a": 2, "b": 0}}
    assert assess(rows, STATS, lookback=2).as_dict()["filled"] is None
    with pytest.raises(ValueError, match="1 filled counts for 2 features"):
        assess(rows, STATS, lookback=2, filled=[1])


def test_constant_where_training_varied_and_varied_where_it_was_constant() -> None:
    n = MIN_ROWS_FOR_CONSTANT
    verdict = assess(rows_of([3.0] * n, b=[5.0, 5.5] * (n // 2)), STATS, lookback=4)
    assert verdict.constant_features == ("a",)
    assert verdict.varied_features == ("b",)
    assert verdict.not_judged == ()


def test_too_few_rows_are_not_called_constant_and_the_verdict_says_so() -> None:
    verdict = assess(rows_of([3.0] * 5, b=[5.0, 6.0, 5.0, 5.0, 5.0]), STATS, lookback=4)
    assert verdict.constant_features == ()
    assert verdict.varied_features == ("b",)
    (not_judged,) = verdict.not_judged
    assert not_judged.check == "constant"
    assert f"fewer than {MIN_ROWS_FOR_CONSTANT} values of a, b" in not_judged.reason


def minutes(*offsets: float) -> list[datetime]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [start + timedelta(minutes=m) for m in offsets]


def test_gaps_and_irregular_steps_are_judged_against_the_training_step() -> None:
    times = minutes(0, 1, 2, 5, 6, 6.5, 7.5, 8.5, 9.5, 10.5)  # a 3-minute gap, a half step
    steps = assess(rows_of([5] * 10), STATS, 2, timestamps=times).time_steps
    assert steps is not None
    assert (steps.gaps, steps.missing_samples, steps.first_gap_row) == (1, 2, 3)
    assert steps.longest_gap_seconds == 180.0
    assert (steps.irregular_steps, steps.first_irregular_row) == (1, 5)
    assert (steps.median_step_seconds, steps.step_differs) == (60.0, False)


def test_a_different_step_is_said_once_not_as_irregular_steps_alone() -> None:
    times = [t * 10.0 for t in range(20)]  # epoch seconds, every 10 s against 60 s
    verdict = assess(rows_of([5] * 20), STATS, 2, timestamps=times)
    assert verdict.time_steps is not None
    assert verdict.time_steps.step_differs
    assert "median step 10 s against 60 s in training" in verdict.summary()


def test_datetimes_epoch_seconds_and_text_with_or_without_a_zone_are_the_same_times() -> None:
    times = minutes(0, 1, 3)
    text_z = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    text_plain = [t.strftime("%Y-%m-%d %H:%M:%S") for t in times]
    text_offset = [(t + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00") for t in times]
    epoch = [t.timestamp() for t in times]
    for given_times in (pd.Series(times), pd.DatetimeIndex(times), text_z, text_plain, text_offset):
        np.testing.assert_array_equal(time_seconds(given_times), epoch)
    # a list of text is read by the input contract's parser, anything else by pandas': alike
    for text in (text_z, text_plain, text_offset):
        np.testing.assert_array_equal(time_seconds(pd.Series(text)), epoch)
    assert np.isnan(time_seconds(["2026-01-01T00:00:00Z", "not a time"])[1])
    assert np.isnan(time_seconds(pd.Series(["2026-01-01T00:00:00Z", "not a time"]))[1])


def test_without_a_training_step_gaps_are_not_judged_and_the_verdict_says_why() -> None:
    stats = TrainingStats(STATS.features, STATS.low, STATS.high, STATS.spread, None)
    verdict = assess(rows_of([5] * 3), stats, 2, timestamps=minutes(0, 1, 30))
    assert verdict.time_steps is not None
    assert verdict.time_steps.gaps == 0
    assert verdict.time_steps.median_step_seconds == 900.0  # the median of 60 and 1740
    assert [n.check for n in verdict.not_judged] == ["constant", "time_steps"]
    assert "the model stores no training time step" in verdict.summary()


def test_the_verdict_is_json_ready_even_for_huge_values() -> None:
    stats = TrainingStats(("a",), np.zeros(1), np.zeros(1), np.full(1, 1e-8), 1.0)
    verdict = assess(np.array([[1e300], [np.nan]]), stats, 1, timestamps=[0.0, 1.0])
    text = json.dumps(verdict.as_dict(), allow_nan=False)
    assert json.loads(text)["out_of_range"][0]["side"] == "above"


def test_the_summary_is_one_line_naming_what_was_found() -> None:
    rows = rows_of([5, 18, 5, np.nan], b=[5, 5, 7, 5])
    summary = assess(rows, STATS, 2, timestamps=minutes(0, 1, 2, 4)).summary()
    assert "\n" not in summary
    assert summary.startswith(
        "data quality: 2 features outside the training range (a 4 spreads above (row 1), "
        "b 2 spreads above (row 2)); 2 of 3 windows more than 2 spreads out; "
        "varied where training was constant: b; 1 gap (1 sample missing, the first before row 3)"
        "; 1 cell missing"
    )
    clean = assess(rows_of([5, 6] * 20), STATS, 2, timestamps=[60.0 * i for i in range(40)])
    assert clean.ok
    assert clean.summary() == "data quality: within the training range"


def test_a_trained_model_stores_its_time_step_and_the_verdict_windows_match_detection(
    tiny_model,
) -> None:
    detector = load_detector(tiny_model.store, "tiny")
    assert detector.spec.training.time_step_seconds == 60.0  # tiny frames: one row a minute
    values = tiny_model.frame[TINY_FEATURES].to_numpy()[:50]
    verdict = assess(values, TrainingStats.of(detector.spec), detector.lookback)
    np.testing.assert_array_equal(verdict.window_end_rows, detector.detect(values).window_end_rows)
    assert verdict.out_of_range == ()


@pytest.mark.parametrize("old_version", [1, 2])
def test_an_older_detector_json_without_a_time_step_loads_and_the_verdict_degrades(
    tiny_model, tmp_path: Path, old_version: int
) -> None:
    stored = tiny_model.store.open("tiny")
    old = stored.spec.model_dump(mode="json")
    del old["training"]["time_step_seconds"]
    if old_version == 1:
        old = {k: v for k, v in old.items() if k != "options"} | {"format_version": 1}
    store = ModelStore(tmp_path)
    store.write("old", DetectorSpec.model_validate(old), stored.weights(), stored.onnx())
    spec = load_detector(store, "old").spec
    assert spec.training.time_step_seconds is None
    frame = tiny_model.frame.head(40)
    verdict = assess(
        frame[TINY_FEATURES].to_numpy(), TrainingStats.of(spec), 4, timestamps=frame["time"]
    )
    assert verdict.time_steps is not None
    assert verdict.time_steps.median_step_seconds == 60.0
    assert [n.check for n in verdict.not_judged] == ["time_steps"]
