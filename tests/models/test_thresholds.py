import numpy as np
import pytest

from models.errors import InvalidInput, InvalidLabels
from models.metrics import Confusion
from models.thresholds import error_quantiles, max_f1_threshold, quantile_threshold


def test_the_quantile_threshold_lets_the_expected_share_of_normal_errors_through() -> None:
    errors = np.arange(1, 1001, dtype=float)  # 1..1000
    threshold = quantile_threshold(errors, 0.99)
    assert threshold == pytest.approx(np.quantile(errors, 0.99))
    assert (errors > threshold).sum() == 10


def test_max_f1_finds_the_cut_that_separates_known_anomalies() -> None:
    # normal errors 0..0.49, anomalies 0.8..0.89, plus one normal outlier at 0.85
    rng = np.random.default_rng(0)
    normal = rng.uniform(0.0, 0.49, 300)
    anomalous = np.linspace(0.8, 0.89, 10)
    errors = np.r_[normal, anomalous, 0.85]
    labels = np.r_[np.zeros(300), np.ones(10), 0].astype(int)
    threshold = max_f1_threshold(errors, labels)
    assert normal.max() < threshold < 0.8
    c = Confusion.of(errors > threshold, labels)
    assert (c.tp, c.fp, c.fn) == (10, 1, 0)


def test_max_f1_can_beat_including_a_lone_high_normal_outlier() -> None:
    # a normal window with the highest error must not drag the threshold to the top
    errors = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 5.0])
    labels = np.array([0, 0, 0, 1, 1, 0])
    threshold = max_f1_threshold(errors, labels)
    assert 0.3 < threshold < 0.7


def test_max_f1_without_any_anomaly_is_refused() -> None:
    with pytest.raises(InvalidLabels, match="no"):
        max_f1_threshold(np.array([0.1, 0.2]), np.array([0, 0]))


@pytest.mark.parametrize("q", [0.0, 1.0, 1.5])
def test_quantiles_outside_zero_to_one_are_refused(q: float) -> None:
    with pytest.raises(InvalidInput):
        quantile_threshold(np.array([1.0, 2.0]), q)


def test_stored_quantiles_include_the_median_and_the_extremes() -> None:
    quantiles = error_quantiles(np.arange(101, dtype=float))
    assert quantiles["0"] == 0
    assert quantiles["0.5"] == 50
    assert quantiles["1"] == 100
    assert list(quantiles.values()) == sorted(quantiles.values())
