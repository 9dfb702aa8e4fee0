"""Load a stored model: verified files -> network rebuilt from JSON -> weights -> warm engine."""

from __future__ import annotations

from models.artifact import ModelStore
from models.detector import Detector
from models.errors import ArtifactError


def load_detector(store: ModelStore, name: str, version: int | None = None) -> Detector:
    version, spec, weights = store.read(name, version)  # refuses a bad artifact before TF loads

    from models.engines import TensorFlowEngine
    from models.network import build_network

    network = build_network(spec.network, spec.lookback, spec.n_features)
    expected = [tuple(w.shape) for w in network.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise ArtifactError(
            f"model {name!r} version {version}: "
            "weight shapes do not match the network in detector.json"
        )
    network.set_weights(weights)
    engine = TensorFlowEngine(network, spec.lookback, spec.n_features)
    engine.warm_up()
    return Detector(name, version, spec, engine)
