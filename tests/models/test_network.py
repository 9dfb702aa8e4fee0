import keras
import numpy as np
import pytest

from models.network import (
    UNROLL_MAX_LOOKBACK,
    build_network,
    layer_table,
    rolled,
    training_network,
)
from models.spec import Activation, Architecture, NetworkConfig

SEED = NetworkConfig(units=(128, 64), activation=Activation.RELU)


def test_the_seed_autoencoder_has_the_seeds_exact_parameter_counts() -> None:
    table = layer_table(build_network(SEED, lookback=3, n_features=2))
    assert [row.params for row in table] == [67_072, 49_408, 0, 33_024, 98_816, 258]
    assert sum(row.params for row in table) == 248_578
    assert [row.type for row in table] == [
        "LSTM",
        "LSTM",
        "RepeatVector",
        "LSTM",
        "LSTM",
        "TimeDistributed",
    ]
    assert [row.output_shape for row in table] == [
        [None, 3, 128],
        [None, 64],
        [None, 3, 64],
        [None, 3, 64],
        [None, 3, 128],
        [None, 3, 2],
    ]


def test_the_no_bottleneck_sequence_variant_has_the_same_total() -> None:
    config = SEED.model_copy(update={"architecture": Architecture.SEQUENCE})
    table = layer_table(build_network(config, lookback=3, n_features=2))
    assert "RepeatVector" not in [row.type for row in table]
    assert all(len(row.output_shape) == 3 for row in table)
    assert sum(row.params for row in table) == 248_578


def test_the_article_model_has_its_25243_parameters() -> None:
    network = build_network(NetworkConfig(units=(32, 16), activation=Activation.RELU), 5, 59)
    assert network.count_params() == 25_243


@pytest.mark.parametrize("units", [(), (0,), (10_000,)])
def test_impossible_layer_sizes_are_refused(units: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="units"):
        NetworkConfig(units=units)


def _unrolled(network) -> list[bool]:  # type: ignore[no-untyped-def]
    return [layer.unroll for layer in network.layers if hasattr(layer, "unroll")]


def test_training_unrolls_short_windows_only() -> None:
    config = NetworkConfig(units=(8, 4))
    assert _unrolled(training_network(config, UNROLL_MAX_LOOKBACK, 3)) == [True] * 4
    assert _unrolled(training_network(config, UNROLL_MAX_LOOKBACK + 1, 3)) == [False] * 4


def test_the_rolled_twin_has_the_weights_and_reconstructs_as_the_unrolled_network() -> None:
    config = NetworkConfig(units=(8, 4))
    keras.utils.set_random_seed(3)
    unrolled = training_network(config, 4, 3)
    twin = rolled(unrolled, config)
    assert _unrolled(twin) == [False] * 4
    for mine, theirs in zip(twin.get_weights(), unrolled.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    windows = np.random.default_rng(0).normal(size=(7, 4, 3)).astype("float32")
    np.testing.assert_allclose(twin(windows), unrolled(windows), rtol=0, atol=1e-6)
