"""The seed article's toy example, run through rarewatch's own code.

"Step-by-step understanding LSTM Autoencoder layers" (C. Ranjan) feeds a 9 x 2 series (0.1..0.9
and their cubes) in windows of 3 to an LSTM 128-64 relu autoencoder and shows it learns to
reconstruct them. rarewatch's temporalize makes 7 windows of that series where the article's
helper made 5. Run it: `python -m examples.seed_toy`.
"""

from __future__ import annotations

import numpy as np

from models.engines import TensorFlowEngine
from models.network import build_network, layer_table
from models.scoring import window_errors
from models.spec import Activation, NetworkConfig
from models.windows import temporalize

SEED_CONFIG = NetworkConfig(units=(128, 64), activation=Activation.RELU)
LOOKBACK = 3


def toy_windows() -> np.ndarray:
    x1 = np.round(np.arange(0.1, 1.0, 0.1), 1)
    series = np.column_stack([x1, x1**3])  # (9, 2)
    return np.ascontiguousarray(temporalize(series, LOOKBACK), dtype=np.float32)  # (7, 3, 2)


def run(epochs: int = 300, seed: int = 0) -> tuple[float, float]:
    """Train as the seed does (adam, MSE, batch 5, unscaled input); MSE before and after."""
    import keras

    keras.utils.set_random_seed(seed)
    windows = toy_windows()
    network = build_network(SEED_CONFIG, LOOKBACK, n_features=2)
    network.compile(optimizer="adam", loss="mse")
    engine = TensorFlowEngine(network, LOOKBACK, 2)
    before = float(window_errors(windows, engine.reconstruct(windows)).scores.mean())
    network.fit(windows, windows, epochs=epochs, batch_size=5, verbose=0)
    after = float(window_errors(windows, engine.reconstruct(windows)).scores.mean())
    return before, after


def main() -> None:
    network = build_network(SEED_CONFIG, LOOKBACK, n_features=2)
    for row in layer_table(network):
        print(f"{row.name:<16}{row.type:<18}{row.output_shape!s:<18}{row.params:>9,}")
    print(f"total params: {network.count_params():,}")
    before, after = run()
    print(
        f"reconstruction MSE untrained {before:.5f} -> trained {after:.6f} "
        f"({before / after:.0f}x lower)"
    )


if __name__ == "__main__":
    main()
