"""The peaks-over-threshold (extreme-value) threshold fitted to normal validation errors."""

import numpy as np
import pytest

from models.data import select
from models.errors import InvalidInput
from models.thresholds import ThresholdMethod, pot_threshold, quantile_threshold
from models.training import train_detector
from tests.conftest import TINY_OPTIONS, tiny_frame


def test_pot_finds_an_exponential_tails_quantile() -> None:
    errors = np.random.default_rng(0).exponential(1.0, 20_000)
    assert pot_threshold(errors, 0.999) == pytest.approx(-np.log(0.001), rel=0.1)


def test_pot_reaches_past_the_largest_of_few_normal_errors() -> None:
    errors = np.random.default_rng(1).exponential(1.0, 100)
    assert pot_threshold(errors, 0.999) > errors.max() >= quantile_threshold(errors, 0.999)


def test_pot_falls_back_to_the_quantile_when_the_tail_has_no_spread() -> None:
    errors = np.r_[np.linspace(0, 1, 90), np.full(10, 2.0)]
    assert pot_threshold(errors, 0.99) == pytest.approx(quantile_threshold(errors, 0.99))


@pytest.mark.parametrize(("quantile", "tail"), [(0.9, 0.9), (0.8, 0.9), (1.0, 0.9)])
def test_pot_refuses_a_tail_that_does_not_start_below_the_quantile(
    quantile: float, tail: float
) -> None:
    with pytest.raises(InvalidInput):
        pot_threshold(np.arange(10.0), quantile, tail)


def test_a_model_trained_with_pot_stores_the_method_and_quantile() -> None:
    data = select(tiny_frame(300), time_column="time")
    options = TINY_OPTIONS.changed(
        epochs=2, threshold_method=ThresholdMethod.POT, threshold_quantile=0.999
    )
    spec = train_detector(data, options).spec
    assert spec.threshold.method is ThresholdMethod.POT
    assert spec.threshold.quantile == 0.999
    assert spec.threshold.value > spec.validation_error_quantiles["0.5"]
