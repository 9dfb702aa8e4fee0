import pytest

from models.network import build_network, layer_table
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
