import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.errors import InvalidInput, NotEnoughRows
from models.windows import n_windows, temporalize, window_end_rows


def seed_toy_series() -> np.ndarray:
    """The seed article's toy input: 0.1..0.9 and their cubes, 9 rows x 2 features."""
    x1 = np.round(np.arange(0.1, 1.0, 0.1), 1)
    return np.column_stack([x1, x1**3])


def article_temporalize(values: np.ndarray, lookback: int) -> np.ndarray:
    """The articles' helper, as published, to show what it drops."""
    output = []
    for i in range(len(values) - lookback - 1):
        output.append([values[i + j + 1] for j in range(1, lookback + 1)])
    return np.array(output)


def test_the_seed_toy_series_gives_seven_windows_where_the_article_gets_five() -> None:
    series = seed_toy_series()
    windows = temporalize(series, lookback=3)
    assert windows.shape == (7, 3, 2)
    assert article_temporalize(series, 3).shape == (5, 3, 2)
    np.testing.assert_array_equal(windows[0], series[0:3])
    np.testing.assert_array_equal(windows[-1], series[6:9])
    # the article's first window starts at the third row: rows 0 and 1 never begin a window
    np.testing.assert_array_equal(article_temporalize(series, 3)[0], series[2:5])


def test_windows_are_a_read_only_view_without_a_copy() -> None:
    series = seed_toy_series()
    windows = temporalize(series, 3)
    assert np.shares_memory(windows, series)
    assert not windows.flags.writeable


def test_each_window_belongs_to_its_last_row() -> None:
    np.testing.assert_array_equal(window_end_rows(9, 3), np.arange(2, 9))
    np.testing.assert_array_equal(window_end_rows(10, 3, stride=3), [2, 5, 8])


def test_too_few_rows_are_refused_with_the_number_needed() -> None:
    with pytest.raises(NotEnoughRows, match="at least 5"):
        temporalize(np.zeros((4, 2)), 5)


def test_a_one_dimensional_series_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2-D"):
        temporalize(np.zeros(10), 3)


@given(
    values=arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 5))),
    lookback=st.integers(1, 12),
    stride=st.integers(1, 4),
)
def test_window_k_holds_rows_k_times_stride_onwards(
    values: np.ndarray, lookback: int, stride: int
) -> None:
    n_rows = values.shape[0]
    if n_rows < lookback:
        with pytest.raises(NotEnoughRows):
            temporalize(values, lookback, stride)
        return
    windows = temporalize(values, lookback, stride)
    assert windows.shape == (n_windows(n_rows, lookback, stride), lookback, values.shape[1])
    if stride == 1:
        assert len(windows) == n_rows - lookback + 1
    ends = window_end_rows(n_rows, lookback, stride)
    assert len(ends) == len(windows)
    for k, end in enumerate(ends):
        np.testing.assert_array_equal(windows[k], values[end - lookback + 1 : end + 1])
        assert end - lookback + 1 == k * stride


def test_exactly_lookback_rows_make_the_one_window_they_are() -> None:
    values = np.arange(12.0).reshape(4, 3)
    windows = temporalize(values, 4)
    assert windows.shape == (1, 4, 3)
    np.testing.assert_array_equal(windows[0], values)
    np.testing.assert_array_equal(windows, temporalize(np.vstack([values, values]), 4)[:1])
    assert np.shares_memory(windows, values)
    assert not windows.flags.writeable
