"""The LSTM autoencoder, built in our own code from a NetworkConfig (never deserialized)."""

from __future__ import annotations

from models.spec import Architecture, LayerRow, NetworkConfig
from models.tensorflow_import import import_tensorflow

import_tensorflow()

import keras  # noqa: E402 - after TensorFlow's quiet import

# Training unrolls the LSTMs (every timestep written out as its own ops rather than one loop)
# for windows up to this long. The loop's per-step bookkeeping is a large share of the work
# for the short windows this method uses, so unrolled epochs run faster; but tracing the
# unrolled graph (the first epoch) takes longer with every step, so long windows keep the
# loop. `python -m bench.perf.unroll` measures both sides (docs/benchmarks.md).
UNROLL_MAX_LOOKBACK = 16


def build_network(
    config: NetworkConfig, lookback: int, n_features: int, *, unroll: bool = False
) -> keras.Model:
    """Encoder LSTMs, then (autoencoder) a RepeatVector bottleneck, a mirrored decoder and
    TimeDistributed(Dense(n_features)) reconstructing every timestep. With config.members > 1,
    that many such autoencoders read the same window, their layers named `member_J_...`, and
    their reconstructions are concatenated along the feature axis (models/ensemble.py).

    `unroll` changes how the LSTMs compute, never their weights: an unrolled network's weights
    load into a rolled one (`rolled`) and reconstruct the same to float rounding.

    Seed configuration (lookback 3, 2 features, units 128-64, relu): LSTM 128 (67,072 params),
    LSTM 64 (49,408), RepeatVector (0), LSTM 64 (33,024), LSTM 128 (98,816), Dense 2 (258).
    """
    window = keras.Input(shape=(lookback, n_features), name="window")
    if config.members == 1:
        return keras.Sequential(
            [window, *_autoencoder(config, lookback, n_features, unroll, prefix="")],
            name=config.architecture.value,
        )
    reconstructions = []
    for member in range(1, config.members + 1):
        output = window
        for layer in _autoencoder(config, lookback, n_features, unroll, f"member_{member}_"):
            output = layer(output)
        reconstructions.append(output)
    members = keras.layers.Concatenate(axis=-1, name="members")(reconstructions)
    return keras.Model(window, members, name=config.architecture.value)


def _autoencoder(
    config: NetworkConfig, lookback: int, n_features: int, unroll: bool, prefix: str
) -> list[keras.layers.Layer]:
    """One autoencoder's layers, in order, each name starting with `prefix`."""
    units = list(config.units)
    lstm = {"activation": config.activation.value, "dropout": config.dropout, "unroll": unroll}
    bottleneck = config.architecture is Architecture.AUTOENCODER
    layers: list[keras.layers.Layer] = []
    for i, n in enumerate(units):
        last_encoder = i == len(units) - 1
        returns_sequences = not (bottleneck and last_encoder)
        layers.append(
            keras.layers.LSTM(
                n, return_sequences=returns_sequences, name=f"{prefix}encoder_{i + 1}", **lstm
            )
        )
    if bottleneck:
        layers.append(keras.layers.RepeatVector(lookback, name=f"{prefix}bottleneck"))
    for i, n in enumerate(reversed(units)):
        layers.append(
            keras.layers.LSTM(n, return_sequences=True, name=f"{prefix}decoder_{i + 1}", **lstm)
        )
    layers.append(
        keras.layers.TimeDistributed(keras.layers.Dense(n_features), name=f"{prefix}reconstruction")
    )
    return layers


def training_network(config: NetworkConfig, lookback: int, n_features: int) -> keras.Model:
    """The network to fit: unrolled when the lookback is short (UNROLL_MAX_LOOKBACK)."""
    return build_network(config, lookback, n_features, unroll=lookback <= UNROLL_MAX_LOOKBACK)


def rolled(network: keras.Model, config: NetworkConfig) -> keras.Model:
    """`network`'s weights in the rolled network: the one exported, stored and loaded, so
    that a trained model's ONNX graph keeps one LSTM node per layer whichever way it trained."""
    _, lookback, n_features = network.input_shape
    twin = build_network(config, lookback, n_features)
    twin.set_weights(network.get_weights())
    return twin


def layer_table(model: keras.Model) -> list[LayerRow]:
    """Layer, output shape and parameters, as the seed article's model.summary() shows them."""
    return [
        LayerRow(
            name=layer.name,
            type=type(layer).__name__,
            output_shape=list(layer.output.shape),
            params=layer.count_params(),
        )
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)  # a functional model lists its input
    ]
