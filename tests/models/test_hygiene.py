"""Training hygiene: label-like feature columns, and data too small for the split refused early."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.data import select
from models.errors import NotEnoughRows
from models.hygiene import check_training_rows, label_like_columns, rows_needed, split_sizes
from models.spec import TrainingOptions
from tests.conftest import run_python, tiny_frame, with_fault

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name", ["anomaly", "is_anomaly", "isAnomaly", "Label", "changepoint", "TARGET", "y", "Y"]
)
def test_a_feature_named_like_a_label_is_found_by_its_name(name: str) -> None:
    values = np.random.default_rng(0).normal(size=(50, 1))
    (finding,) = label_like_columns([name], values)
    assert (finding.column, finding.reason) == (name, "its name")
    assert f"--label-column {name}" in finding.message()
    assert f"--exclude {name}" in finding.message()


@pytest.mark.parametrize("name", ["accel_y", "yield", "value", "labour_hours", "Pressure"])
def test_measurements_are_not_label_like(name: str) -> None:
    values = np.random.default_rng(0).normal(size=(50, 1))
    assert label_like_columns([name], values) == []


def test_a_column_of_only_zeros_and_ones_is_label_like_missing_cells_aside() -> None:
    values = np.array([[0.0, 0.0, 1.0], [1.0, 2.0, np.nan], [np.nan, 1.0, 0.0]])
    findings = label_like_columns(["door", "count", "flag"], values)
    assert [(f.column, f.reason) for f in findings] == [
        ("door", "only 0/1 values"),
        ("flag", "only 0/1 values"),
    ]


def test_a_name_with_spaces_is_quoted_for_the_shell_in_the_suggestion() -> None:
    (finding,) = label_like_columns(["anomaly flag"], np.zeros((3, 1)))
    assert "--exclude 'anomaly flag'" in finding.message()


@given(st.integers(1, 200), st.floats(0.01, 0.99))
def test_rows_needed_is_the_fewest_rows_leaving_a_window_in_both_parts(
    lookback: int, fraction: float
) -> None:
    needed = rows_needed(lookback, fraction)
    assert min(split_sizes(needed, fraction)) >= lookback
    assert min(split_sizes(needed - 1, fraction)) < lookback


def test_too_few_rows_say_how_many_are_needed_and_which_options_to_change() -> None:
    data = select(tiny_frame(12), time_column="time", label_column="y")
    with pytest.raises(NotEnoughRows) as refused:
        check_training_rows(data, TrainingOptions(lookback=5, validation_fraction=0.2))
    assert refused.value.detail == (
        "the validation part has 2 rows, fewer than the lookback (5); 12 rows in all, 23 needed "
        "with --lookback 5 and --validation-fraction 0.2: give more rows, a --lookback of at "
        "most 2 or a larger --validation-fraction"
    )


def test_fewer_rows_than_two_lookbacks_are_not_helped_by_the_fraction() -> None:
    data = select(tiny_frame(6), time_column="time")
    with pytest.raises(NotEnoughRows, match=r"23 needed .*: give more rows or a --lookback of at"):
        check_training_rows(data, TrainingOptions(lookback=5, validation_fraction=0.2))


def test_a_part_without_an_all_normal_window_names_the_labels_and_the_options() -> None:
    frame = with_fault(tiny_frame(40), start=30, length=10)  # the whole validation part
    data = select(frame, time_column="time", label_column="y")
    with pytest.raises(NotEnoughRows) as refused:
        check_training_rows(data, TrainingOptions(lookback=4, validation_fraction=0.25, shift=2))
    assert refused.value.detail.startswith(
        "no window of 4 all-normal rows in the validation part: the labels mark 10 of its "
        "10 rows anomalous (with --shift 2); give more normal rows, a smaller --lookback, "
        "a smaller --shift"
    )


def test_enough_normal_rows_pass() -> None:
    data = select(
        with_fault(tiny_frame(40), start=20, length=3), time_column="time", label_column="y"
    )
    check_training_rows(data, TrainingOptions(lookback=4, validation_fraction=0.25))


def test_train_detector_refuses_a_small_file_before_importing_tensorflow() -> None:
    driver = (
        "import sys\n"
        "from models.data import select\n"
        "from models.errors import NotEnoughRows\n"
        "from models.spec import TrainingOptions\n"
        "from models.training import train_detector\n"
        "from tests.conftest import tiny_frame\n"
        "try:\n"
        "    train_detector(select(tiny_frame(8), time_column='time'), TrainingOptions())\n"
        "except NotEnoughRows:\n"
        "    print('refused', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    finished = run_python(driver)
    assert finished.stdout == "refused False False\n", finished.stderr
