import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.errors import InvalidInput, NonFiniteValues
from models.scaling import Scaler


def test_scaled_training_rows_have_zero_mean_and_unit_spread() -> None:
    rows = np.random.default_rng(0).normal([10, -3], [5, 0.1], size=(500, 2))
    scaled = Scaler.fit(rows).transform(rows)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-5)
    assert scaled.dtype == np.float32


def test_a_constant_feature_is_centred_not_divided_by_zero() -> None:
    rows = np.column_stack([np.arange(10.0), np.full(10, 7.0)])
    scaler = Scaler.fit(rows)
    assert scaler.scale[1] == 1.0
    scaled = scaler.transform(np.array([[0.0, 7.0], [0.0, 9.0]]))
    np.testing.assert_array_equal(scaled[:, 1], [0.0, 2.0])


def test_the_scaler_round_trips_through_plain_json_numbers() -> None:
    scaler = Scaler.fit(np.random.default_rng(1).normal(size=(50, 3)))
    text = json.dumps(scaler.to_json())
    assert Scaler.from_json(json.loads(text)) == scaler


@pytest.mark.parametrize(
    "stored",
    [
        {"mean": [0.0], "scale": [0.0]},
        {"mean": [float("nan")], "scale": [1.0]},
        {"mean": [0.0, 1.0], "scale": [1.0]},
    ],
)
def test_invalid_stored_scalers_are_refused(stored: dict[str, list[float]]) -> None:
    with pytest.raises(InvalidInput):
        Scaler.from_json(stored)


def test_values_that_overflow_float32_after_scaling_are_refused() -> None:
    scaler = Scaler((0.0,), (1e-6,))
    with pytest.raises(NonFiniteValues, match="row 1"):
        scaler.transform(np.array([[1.0], [1e300]]))


@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=st.floats(-1e6, 1e6)
    )
)
def test_finite_rows_scale_to_finite_float32(rows: np.ndarray) -> None:
    scaled = Scaler.fit(rows).transform(rows)
    assert scaled.shape == rows.shape
    assert np.isfinite(scaled).all()
