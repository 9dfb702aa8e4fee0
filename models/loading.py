"""Load a stored model: checked files -> the fastest engine available -> warmed-up Detector."""

from __future__ import annotations

import logging
from enum import StrEnum
from importlib.util import find_spec

from models.artifact import ModelStore, StoredModel
from models.detector import Detector
from models.engines import Engine, OnnxEngine
from models.errors import ArtifactError, InvalidInput
from models.onnx_scoring import RowScorer, scoring_graph

logger = logging.getLogger(__name__)


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
        try:
            onnx_engine = OnnxEngine(onnx, stored.spec.lookback, stored.spec.n_features)
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise ArtifactError(f"{stored.where}: model.onnx cannot be loaded: {exc}") from exc
        chosen: Engine = onnx_engine
        row_scorer = _row_scorer(stored, onnx_engine)
    else:
        chosen, row_scorer = _tensorflow_engine(stored), None
    chosen.warm_up()
    if row_scorer is not None:
        row_scorer.warm_up()
    return Detector(stored.name, stored.version, stored.spec, chosen, row_scorer)


def _row_scorer(stored: StoredModel, engine: OnnxEngine) -> RowScorer | None:
    """The fast path from rows to errors, or None (the plain path) where the graph cannot be
    extended: a detector without it gives the same answers, only slower."""
    try:
        graph = scoring_graph(engine.graph, stored.spec)  # cleaned already: not done twice
        return None if graph is None else RowScorer(graph, engine, stored.spec)
    except Exception as exc:  # onnx and onnxruntime raise their own types for odd graphs
        logger.warning("%s: scoring without the fused ONNX graph (%s)", stored.where, exc)
        return None


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
