"""Load a stored model: checked files -> the fastest engine available -> warmed-up Detector."""

from __future__ import annotations

from enum import StrEnum
from importlib.util import find_spec

from models.artifact import ModelStore, StoredModel
from models.detector import Detector
from models.engines import Engine
from models.errors import ArtifactError, InvalidInput


class EngineChoice(StrEnum):
    AUTO = "auto"  # ONNX Runtime when the artifact has a graph and onnxruntime is installed
    ONNX = "onnx"
    TENSORFLOW = "tensorflow"


def load_detector(
    store: ModelStore,
    name: str,
    version: int | None = None,
    engine: EngineChoice | str = EngineChoice.AUTO,
) -> Detector:
    stored = store.open(name, version)  # refuses a bad artifact before any engine loads
    choice = EngineChoice(engine)
    onnx = stored.onnx() if choice is not EngineChoice.TENSORFLOW else None
    if choice is EngineChoice.ONNX and onnx is None:
        raise InvalidInput(f"{stored.where} has no ONNX graph; use the tensorflow engine")
    if onnx is not None and (choice is EngineChoice.ONNX or find_spec("onnxruntime")):
        from models.engines import OnnxEngine

        try:
            chosen: Engine = OnnxEngine(onnx, stored.spec.lookback, stored.spec.n_features)
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise ArtifactError(f"{stored.where}: model.onnx cannot be loaded: {exc}") from exc
    else:
        chosen = _tensorflow_engine(stored)
    chosen.warm_up()
    return Detector(stored.name, stored.version, stored.spec, chosen)


def _tensorflow_engine(stored: StoredModel) -> Engine:
    """The network rebuilt from detector.json by our code, with the stored weights set."""
    from models.engines import TensorFlowEngine
    from models.network import build_network

    spec = stored.spec
    weights = stored.weights()
    network = build_network(spec.network, spec.lookback, spec.n_features)
    if [w.shape for w in weights] != [tuple(w.shape) for w in network.get_weights()]:
        raise ArtifactError(f"{stored.where}: weight shapes do not match detector.json's network")
    network.set_weights(weights)
    return TensorFlowEngine(network, spec.lookback, spec.n_features)
