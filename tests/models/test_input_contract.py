"""The input contract: each fill policy, max_gap, missing spellings, timestamps, and a real tiny
model scoring every gap pattern without a fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.data import read_table, select
from models.detector import Detector
from models.errors import InvalidInput, InvalidTimestamps, NonFiniteValues
from models.input_contract import (
    NO_ZONE_NOTE,
    FillMethod,
    FillPolicy,
    check_timestamps,
    fill_missing,
)
from models.loading import load_detector
from models.spec import TrainingOptions
from models.training import train_detector
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame

NAN = np.nan


def column(*cells: float) -> np.ndarray:
    return np.array(cells, dtype=np.float64)[:, None]


def filled(cells: np.ndarray, text: str, max_gap: int = 3) -> np.ndarray:
    return fill_missing(cells, FillPolicy.of(text, max_gap))[0][:, 0]


def test_linear_draws_a_line_across_a_gap_and_carries_the_edges() -> None:
    cells = column(NAN, 1.0, NAN, NAN, 4.0, NAN)
    np.testing.assert_allclose(filled(cells, "linear"), [1.0, 1.0, 2.0, 3.0, 4.0, 4.0])


def test_previous_carries_the_value_before_the_gap_forward() -> None:
    cells = column(NAN, 1.0, NAN, NAN, 4.0, NAN)
    np.testing.assert_allclose(filled(cells, "previous"), [1.0, 1.0, 1.0, 1.0, 4.0, 4.0])


def test_zero_and_fixed_fill_their_value_in_the_features_units() -> None:
    cells = column(1.0, NAN, 3.0)
    np.testing.assert_allclose(filled(cells, "zero"), [1.0, 0.0, 3.0])
    np.testing.assert_allclose(filled(cells, "fixed:-2.5"), [1.0, -2.5, 3.0])


def test_none_fills_nothing_and_reports_every_cell_left() -> None:
    values, report = fill_missing(column(1.0, NAN, 3.0), FillPolicy.of("none", 3))
    assert np.isnan(values[1, 0])
    assert report is not None
    assert report.missing_per_feature.tolist() == [1]
    assert report.filled_per_feature.tolist() == [0]


def test_a_gap_longer_than_max_gap_is_left_whole_and_a_shorter_one_filled() -> None:
    cells = column(0.0, NAN, NAN, NAN, 4.0, NAN, 6.0)
    values, report = fill_missing(cells, FillPolicy.of("linear", 2))
    assert np.isnan(values[1:4, 0]).all()  # three rows: longer than 2, never half-filled
    assert values[5, 0] == 5.0
    assert report is not None
    assert report.filled[:, 0].tolist() == [False, False, False, False, False, True, False]
    assert report.missing[:, 0].tolist() == [False, True, True, True, False, False, False]


def test_complete_values_come_back_untouched_without_a_report() -> None:
    values = np.ones((4, 2))
    same, report = fill_missing(values, FillPolicy.of("linear", 3))
    assert same is values
    assert report is None


@settings(max_examples=200)
@given(
    st.lists(st.none() | st.floats(-1e6, 1e6), min_size=1, max_size=40),
    st.sampled_from(["linear", "previous"]),
    st.integers(0, 5),
)
def test_a_gap_is_filled_whole_from_its_neighbours_or_left_whole(
    cells: list[float | None], fill: str, max_gap: int
) -> None:
    values = np.array([NAN if c is None else c for c in cells])[:, None]
    filled_values, report = fill_missing(values, FillPolicy.of(fill, max_gap))
    missing = np.isnan(values[:, 0])
    if report is None:
        assert not missing.any()
        return
    known = values[~missing, 0]
    for run in np.split(np.arange(len(cells)), np.flatnonzero(np.diff(missing)) + 1):
        if not missing[run[0]]:
            continue
        done = report.filled[run, 0]
        assert done.all() or not done.any()  # never half-filled
        assert done.all() == (len(run) <= max_gap and len(known) > 0)
        if done.all():
            assert (filled_values[run, 0] >= known.min()).all()
            assert (filled_values[run, 0] <= known.max()).all()
    assert (report.filled | report.missing)[:, 0].tolist() == missing.tolist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spline", "linear, previous"),
        ("fixed:", "finite number"),
        ("fixed:inf", "finite number"),
        ("zero:1", "takes no value"),
    ],
)
def test_an_unknown_fill_is_refused_with_the_choices(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        FillPolicy.of(text, 3)


def test_the_fill_is_a_training_option_checked_like_the_others() -> None:
    assert TrainingOptions().fill_policy == FillPolicy(FillMethod.LINEAR, 3)
    assert TrainingOptions.of({"fill": "Fixed:2"}).fill == "fixed:2"
    with pytest.raises(InvalidInput, match="fill"):
        TrainingOptions.of({"fill": "mean"})


def test_missing_spellings_and_empty_cells_are_missing_but_words_and_infinity_are_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,,3\nNA,2,null\nNaN,N/A,3\n4,5,6\n")
    data = select(read_table(path))
    assert np.isnan(data.values).sum() == 5
    path.write_text("a,b,c\n1,oops,3\n")
    with pytest.raises(InvalidInput, match="'oops'"):
        select(read_table(path))
    path.write_text("a,b,c\n1,inf,3\n")
    with pytest.raises(NonFiniteValues):
        select(read_table(path))
    path.write_text("a,b,c\n1,1e400,3\n")
    with pytest.raises(NonFiniteValues):
        select(read_table(path))


def test_parquet_nulls_are_missing_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": pd.array([1, None, 3], dtype="Int64")})
    frame.to_parquet(tmp_path / "gaps.parquet")
    data = select(read_table(tmp_path / "gaps.parquet"))
    assert np.isnan(data.values).sum(axis=0).tolist() == [1, 1]


def test_timestamps_without_a_zone_are_utc_with_a_note() -> None:
    name = "timestamps[{}]".format
    assert check_timestamps(["2026-01-01T00:00:00", "2026-01-01T00:01:00Z"], name) == [NO_ZONE_NOTE]
    assert check_timestamps(["2026-01-01T00:00:00Z"], name) == []
    # a zoneless time is UTC: one minute after this zoned one is later, not the same
    with pytest.raises(InvalidTimestamps, match=r"timestamps\[1\] repeats timestamps\[0\]"):
        check_timestamps(["2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00"], name)


def test_a_time_column_follows_the_api_rule_naming_the_data_row(tmp_path: Path) -> None:
    frame = tiny_frame(8)
    frame.loc[5, "time"] = frame.loc[4, "time"]
    with pytest.raises(
        InvalidTimestamps, match="column 'time', data row 6 repeats column 'time', data row 5"
    ):
        select(frame, time_column="time")
    frame = tiny_frame(8)
    frame["time"] = frame["time"].str.removesuffix("Z")
    assert select(frame, time_column="time").notes == (NO_ZONE_NOTE,)


@pytest.fixture(scope="module")
def detector(tiny_model: TinyModel) -> Detector:
    return load_detector(tiny_model.store, tiny_model.name)


def fresh_values(n_rows: int = 40) -> np.ndarray:
    return tiny_frame(n_rows, seed=42)[TINY_FEATURES].to_numpy().copy()


def test_a_window_with_a_long_gap_has_no_score_and_never_alarms(detector: Detector) -> None:
    values = fresh_values()
    values[20:30, 1] = NAN  # ten rows: past the default max_gap
    detection = detector.detect(values, threshold=1e-12)  # every scored window alarms
    assert detection.filling is not None
    unscored = ~detection.filling.scored
    touching = (detection.window_end_rows >= 20) & (detection.window_end_rows - 3 <= 29)
    assert (unscored == touching).all()
    assert np.isnan(detection.scores[unscored]).all()
    assert not detection.is_anomaly[unscored].any()
    # the unscored windows end the running event: one before the gap, one after it
    assert len(detection.events) == 2


def test_a_short_gap_is_filled_and_scored_with_its_share(detector: Detector) -> None:
    values = fresh_values()
    values[20, 0] = NAN
    detection = detector.detect(values)
    assert detection.filling is not None
    assert detection.filling.scored.all()
    assert np.isfinite(detection.scores).all()
    share = detection.filling.filled_share
    assert share.max() == pytest.approx(1 / 12)  # one cell of a 4 x 3 window
    assert detection.filling.report.filled_per_feature.tolist() == [1, 0, 0]


def test_a_request_fill_overrides_the_models(detector: Detector) -> None:
    values = fresh_values()
    values[20, 0] = NAN
    detection = detector.detect(values, fill=FillPolicy.of("none", 3))
    assert detection.filling is not None
    assert detection.filling.n_unscored == 4  # every window holding row 20


def test_the_newest_window_alone_is_filled_from_the_rows_before_it(detector: Detector) -> None:
    values = fresh_values()
    values[-1, 2] = NAN
    last = detector.detect_last(values)
    assert last.filling is not None
    assert last.filling.scored.tolist() == [True]
    np.testing.assert_allclose(last.scores, detector.detect(values).scores[-1:], rtol=1e-5)


def test_windows_are_filled_each_from_its_own_rows(detector: Detector) -> None:
    windows = np.stack([fresh_values(4), fresh_values(4)])
    windows[0, 1, 0] = NAN
    windows[1, :, 2] = NAN  # a feature with no value in its window: nothing to fill from
    detection = detector.detect_windows(windows)
    assert detection.filling is not None
    assert detection.filling.scored.tolist() == [True, False]


# every gap pattern: gaps of any length and place in any feature, any policy, max_gap 0..6
@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, 29), st.integers(1, 12), st.integers(0, 2)), max_size=6),
    st.sampled_from(["linear", "previous", "zero", "fixed:1.5", "none"]),
    st.integers(0, 6),
    st.booleans(),
)
def test_no_gap_pattern_breaks_scoring(
    detector: Detector, gaps: list[tuple[int, int, int]], fill: str, max_gap: int, last: bool
) -> None:
    values = fresh_values(30)
    for start, length, feature in gaps:
        values[start : start + length, feature] = NAN
    policy = FillPolicy.of(fill, max_gap)
    detection = (detector.detect_last if last else detector.detect)(values, fill=policy)
    scored = np.ones(len(detection.scores), bool)
    if detection.filling is not None:
        scored = detection.filling.scored
        assert ((detection.filling.filled_share >= 0) & (detection.filling.filled_share <= 1)).all()
    assert np.isfinite(detection.scores[scored]).all()
    assert np.isnan(detection.scores[~scored]).all()
    assert not detection.is_anomaly[~scored].any()


def test_a_file_with_five_percent_missing_and_long_gaps_trains_and_scores() -> None:
    frame = tiny_frame(400)
    rng = np.random.default_rng(3)
    values = frame[TINY_FEATURES].to_numpy(copy=True)
    values[rng.random(values.shape) < 0.05] = NAN
    values[100:110, 0] = NAN
    values[250:262, 2] = NAN
    frame[TINY_FEATURES] = values
    trained = train_detector(select(frame, time_column="time", label_column="y"), TINY_OPTIONS)
    summary = trained.spec.training
    assert summary.filled_cells > 0
    assert summary.windows_left_out >= 13 + 15  # the windows holding either long gap
    detection = Detector.from_trained(trained, "gappy").detect(values)
    assert detection.filling is not None
    assert 0 < detection.filling.n_unscored < len(detection.scores)
    assert np.isfinite(detection.scores[detection.filling.scored]).all()
