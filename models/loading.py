"""Load a model: checked files (or a model trained in memory) -> the fastest engine available ->
warmed-up Detector. A network that does not fit its detector.json is ArtifactError here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib.util import find_spec
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from models.artifact import ONNX_FILE, SPEC_FILE, WEIGHTS_FILE, ModelStore
from models.detector import Detector
from models.engines import Engine, OnnxEngine
from models.errors import ArtifactError, InvalidInput
from models.onnx_scoring import RowScorer, scoring_graph
from models.spec import DetectorSpec
from models.wording import plural

if TYPE_CHECKING:
    from models.training import TrainedModel

logger = logging.getLogger(__name__)

IN_MEMORY_VERSION = 0  # the version of a detector built from a model that was never stored
# What a loaded model holds beyond its weights: an ONNX Runtime session's own structures (its
# kernels, arena, the graph parsed), measured as RSS over many loaded models (docs/benchmarks.md,
# "Many models in one server"); the same figure is used for a TensorFlow engine.
ENGINE_OVERHEAD_BYTES = 512 * 1024


class EngineChoice(StrEnum):
    AUTO = "auto"  # ONNX Runtime when the artifact has a graph and onnxruntime is installed
    ONNX = "onnx"
    TENSORFLOW = "tensorflow"


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a Detector is built from, stored or in memory; the arrays are read only if needed."""

    name: str
    version: int
    where: str  # for error messages
    spec: DetectorSpec
    onnx: Callable[[], bytes | None]
    weights: Callable[[], list[np.ndarray]]


def load_detector(
    store: ModelStore,
    name: str,
    version: int | None = None,
    engine: EngineChoice | str = EngineChoice.AUTO,
) -> Detector:
    stored = store.open(name, version)  # refuses a bad artifact before any engine loads
    parts = _Parts(
        stored.name, stored.version, stored.where, stored.spec, stored.onnx, stored.weights
    )
    return _detector(parts, engine)


def trained_detector(
    trained: TrainedModel, name: str, engine: EngineChoice | str = EngineChoice.AUTO
) -> Detector:
    """The Detector load_detector would give once `trained` is stored, without the disk round
    trip (its version is IN_MEMORY_VERSION)."""
    parts = _Parts(
        name,
        IN_MEMORY_VERSION,
        f"trained model {name!r}",
        trained.spec,
        lambda: trained.onnx,
        lambda: trained.weights,
    )
    return _detector(parts, engine)


def _detector(parts: _Parts, engine: EngineChoice | str) -> Detector:
    choice = EngineChoice(engine)
    onnx = parts.onnx() if choice is not EngineChoice.TENSORFLOW else None
    if choice is EngineChoice.ONNX and onnx is None:
        raise InvalidInput(f"{parts.where} has no ONNX graph; use the tensorflow engine")
    if onnx is not None and (choice is EngineChoice.ONNX or find_spec("onnxruntime")):
        onnx_engine = _onnx_engine(parts, onnx)
        chosen: Engine = onnx_engine
        row_scorer = _row_scorer(parts, onnx_engine)
        if row_scorer is None:  # the plain path's session is made, and checked, only then
            _plain_session(parts, onnx_engine)
    else:
        chosen, row_scorer = _tensorflow_engine(parts), None
    return Detector(parts.name, parts.version, parts.spec, chosen, row_scorer)


def _onnx_engine(parts: _Parts, onnx: bytes) -> OnnxEngine:
    """ONNX Runtime on the stored graph, refused unless it takes the windows detector.json says
    (read from the graph itself: no session is made for it)."""
    spec = parts.spec
    try:
        engine = OnnxEngine(onnx, spec.lookback, spec.n_features)
    except Exception as exc:  # onnx and onnxruntime raise their own exception types
        _refused(parts, exc)
    inputs = _graph_inputs(engine.graph)
    if len(inputs) != 1:
        raise ArtifactError(f"{parts.where}: {ONNX_FILE} has {plural(len(inputs), 'input')}, not 1")
    dims = inputs[0]  # [batch, lookback, features], a name where a size is free
    wanted = (spec.lookback, spec.n_features)
    if len(dims) != 1 + len(wanted) or any(
        isinstance(dim, int) and dim != size for dim, size in zip(dims[1:], wanted, strict=True)
    ):
        shape = " x ".join(str(dim) if isinstance(dim, int) else "any" for dim in dims)
        raise ArtifactError(
            f"{parts.where}: {ONNX_FILE} takes windows of {shape}, but {SPEC_FILE} says "
            f"lookback {spec.lookback} and {plural(spec.n_features, 'feature')}"
        )
    return engine


def _graph_inputs(graph: bytes) -> list[list[int | str | None]]:
    """The dimensions of each input of a graph, as ONNX Runtime's session lists them: a size, a
    name where the size is free, None where neither is given; initializers are not inputs."""
    import onnx

    model = onnx.load_from_string(graph)
    constants = {initializer.name for initializer in model.graph.initializer}
    return [
        [
            dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None)
            for dim in value.type.tensor_type.shape.dim
        ]
        for value in model.graph.input
        if value.name not in constants
    ]


def _refused(parts: _Parts, exc: Exception) -> NoReturn:
    logger.warning("%s: ONNX Runtime refused %s: %s", parts.where, ONNX_FILE, exc)
    raise ArtifactError(f"{parts.where}: {ONNX_FILE} cannot be loaded by ONNX Runtime") from exc


def _plain_session(parts: _Parts, engine: OnnxEngine) -> None:
    """The engine's own session made and its network checked, for a detector without a row
    scorer."""
    try:
        engine.session  # noqa: B018 - made now, refused here rather than at a request
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        _refused(parts, exc)
    _warm_up(parts, engine)


def _warm_up(parts: _Parts, engine: Engine) -> None:
    """The network run once: the first request pays no start-up cost, and a network that cannot
    run the spec's windows, or gives back another shape or a non-finite number, is refused here
    rather than failing every request."""
    try:
        window, reconstructed = engine.warm_up()
    except Exception as exc:  # onnxruntime and TensorFlow raise their own exception types
        logger.warning("%s: the network failed on a window of zeros: %s", parts.where, exc)
        raise ArtifactError(
            f"{parts.where}: the network cannot reconstruct a window of the shape {SPEC_FILE} "
            "describes"
        ) from exc
    _check_reconstruction(parts, window, reconstructed)


def _check_reconstruction(parts: _Parts, window: np.ndarray, reconstructed: np.ndarray) -> None:
    # one reconstruction per member, side by side along the feature axis (models/ensemble.py)
    n_windows, lookback, n_features = window.shape
    shape = (n_windows, lookback, parts.spec.network.members * n_features)
    if reconstructed.shape != shape or not np.isfinite(reconstructed).all():
        raise ArtifactError(
            f"{parts.where}: the network's reconstruction of a window of zeros is "
            + ("not finite" if reconstructed.shape == shape else "of another shape")
        )


def _row_scorer(parts: _Parts, engine: OnnxEngine) -> RowScorer | None:
    """The fast path from rows to errors, or None (the plain path) where the graph cannot be
    extended: a detector without it gives the same answers, only slower."""
    try:
        graph = scoring_graph(engine.graph, parts.spec)  # cleaned already: not done twice
        if graph is None:
            return None
        row_scorer = RowScorer(graph, engine, parts.spec)
        window, reconstructed = row_scorer.warm_up()
    except Exception as exc:  # onnx and onnxruntime raise their own types for odd graphs
        logger.warning("%s: scoring without the fused ONNX graph (%s)", parts.where, exc)
        return None
    # the plain path's check, on the network's output inside the scoring graph
    _check_reconstruction(parts, window, reconstructed)
    return row_scorer


def _tensorflow_engine(parts: _Parts) -> Engine:
    """The network rebuilt from detector.json by our code, with the stored weights set."""
    from models.engines import TensorFlowEngine
    from models.network import build_network

    spec = parts.spec
    weights = parts.weights()
    network = build_network(spec.network, spec.lookback, spec.n_features)
    if [w.shape for w in weights] != [tuple(w.shape) for w in network.get_weights()]:
        raise ArtifactError(f"{parts.where}: weight shapes do not match {SPEC_FILE}'s network")
    if any(w.dtype.kind != "f" for w in weights):
        raise ArtifactError(f"{parts.where}: {WEIGHTS_FILE} holds arrays that are not floats")
    network.set_weights(weights)
    engine = TensorFlowEngine(network, spec.lookback, spec.n_features)
    engine.weights_bytes = sum(w.nbytes for w in weights)
    _warm_up(parts, engine)
    return engine


def footprint(detector: Detector) -> int:
    """An estimate of the memory a loaded detector holds, in bytes: its weights twice (the graph
    kept for the plain path and the copy inside the session that scores) and one engine's
    overhead; a PCA member's arrays twice too (the detector's and the scoring graph's). The
    registry's memory budget (RAREWATCH_MAX_LOADED_MODELS_MB) adds these up."""
    member = detector.spec.pca_member
    member_values = 0 if member is None else len(member.mean) * (len(member.components) + 1)
    return 2 * (detector.engine.weights_bytes + 8 * member_values) + ENGINE_OVERHEAD_BYTES
