"""The fused scoring graph (models/onnx_scoring.py) against the plain path it replaces."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.artifact import ModelStore
from models.data import select
from models.detector import Detector
from models.engines import OnnxEngine
from models.errors import NonFiniteValues, NotEnoughRows
from models.loading import load_detector
from models.onnx_scoring import RowScorer, scoring_graph
from models.scoring import ErrorStandardisation, ScoreOn
from models.spec import DetectorSpec, ErrorStandardSpec, PcaMemberSpec
from models.training import store_trained, train_detector
from models.windows import WindowTransform
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame, with_fault

STANDARD = ErrorStandardSpec(
    aggregation=ErrorStandardisation.MEAN_SQUARE, centre=[0.05, 0.1, 0.0], spread=[0.05, 0.1, 0.01]
)
STANDARD_MAX = STANDARD.model_copy(update={"aggregation": ErrorStandardisation.MAX})
# a PCA member over the tiny model's windows (4 rows x 3 features): two orthonormal components
_DIRECTIONS = np.linalg.qr(np.random.default_rng(3).normal(size=(12, 12)))[0]
MEMBER = PcaMemberSpec(
    mean=np.linspace(-0.5, 0.5, 12).tolist(),
    components=_DIRECTIONS[:, :2].T.tolist(),
    network_median=0.02,
    pca_median=0.3,
)


def fused_and_plain(
    tiny_model: TinyModel, chunk_windows: int = 512, workers: int = 2, **spec_changes: object
) -> tuple[Detector, Detector]:
    """Two detectors of the tiny model with `spec_changes`: with and without the fused path."""
    loaded = load_detector(tiny_model.store, "tiny", engine="onnx")
    engine = loaded.engine
    assert isinstance(engine, OnnxEngine)
    engine.chunk_windows, engine.workers = chunk_windows, workers
    spec = loaded.spec.model_copy(update=spec_changes)
    graph = scoring_graph(tiny_model.store.open("tiny").onnx(), spec)
    assert graph is not None
    fused = Detector("tiny", 1, spec, engine, RowScorer(graph, engine, spec))
    return fused, Detector("tiny", 1, spec, engine)


def faulty_values(n_rows: int = 400) -> np.ndarray:
    return with_fault(tiny_frame(n_rows, seed=5), n_rows // 2)[TINY_FEATURES].to_numpy().copy()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"score_on": ScoreOn.LAST_STEP},
        {"error_weights": [0.5, 2.0, 4.0]},
        {"score_on": ScoreOn.LAST_STEP, "error_weights": [1.0, 3.0, 0.25]},
        {"error_standard": STANDARD},
        {"score_on": ScoreOn.LAST_STEP, "error_standard": STANDARD_MAX, "smoothing": 3},
        {"smoothing": 4, "alarm_after": 2},
        {"pca_member": MEMBER},
        {"score_on": ScoreOn.LAST_STEP, "pca_member": MEMBER, "error_weights": [0.5, 2.0, 4.0]},
        {"pca_member": MEMBER, "error_standard": STANDARD_MAX},
    ],
    ids=[
        "window",
        "last-step",
        "weighted",
        "last-step-weighted",
        "standardised",
        "last-step-max-smoothed",
        "smoothed",
        "pca-member",
        "last-step-pca-member-weighted",
        "pca-member-max",
    ],
)
@pytest.mark.parametrize(("chunk_windows", "workers"), [(512, 2), (7, 1), (7, 3)])
def test_the_fused_path_scores_as_the_plain_path(
    tiny_model: TinyModel, changes: dict, chunk_windows: int, workers: int
) -> None:
    fused, plain = fused_and_plain(tiny_model, chunk_windows, workers, **changes)
    values = faulty_values()
    a, b = fused.detect(values), plain.detect(values)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    np.testing.assert_allclose(a.contributions, b.contributions, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(a.window_end_rows, b.window_end_rows)
    np.testing.assert_array_equal(a.is_anomaly, b.is_anomaly)
    assert a.is_anomaly.any(), "the injected fault is flagged, so the comparison covers alarms"
    newest_a, newest_b = fused.detect_last(values), plain.detect_last(values)
    np.testing.assert_allclose(newest_a.scores, newest_b.scores, rtol=1e-6)


def test_models_load_with_the_fused_path_only_where_it_applies(tiny_model: TinyModel) -> None:
    assert load_detector(tiny_model.store, "tiny", engine="onnx").row_scorer is not None
    assert load_detector(tiny_model.store, "tiny", engine="tensorflow").row_scorer is None
    spec = tiny_model.store.open("tiny").spec
    centred = spec.model_copy(update={"window_transform": WindowTransform.CENTER})
    assert scoring_graph(tiny_model.store.open("tiny").onnx(), centred) is None


def test_a_graph_not_shaped_as_the_exporters_gets_no_scoring_graph(tiny_model: TinyModel) -> None:
    spec: DetectorSpec = tiny_model.store.open("tiny").spec
    shape = [None, spec.lookback, spec.n_features]
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["window"], ["reconstruction"])],
            "identity",
            [helper.make_tensor_value_info("window", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, shape)],
        ),
        opset_imports=[helper.make_opsetid("", 15)],
    )
    assert scoring_graph(identity.SerializeToString(), spec) is None


def test_a_value_overflowing_float32_after_scaling_is_named_as_on_the_plain_path(
    tiny_model: TinyModel,
) -> None:
    fused, plain = fused_and_plain(tiny_model)
    values = faulty_values(50)
    values[30, 1] = 1e300  # finite, but far past float32 once scaled
    assert fused.row_scorer is not None
    assert fused.row_scorer.errors(values) is None
    for detector in (fused, plain):
        with pytest.raises(NonFiniteValues, match="row 30, feature 1"):
            detector.detect(values)


def test_squared_errors_past_float32_are_redone_wide_as_on_the_plain_path(
    tiny_model: TinyModel,
) -> None:
    fused, plain = fused_and_plain(tiny_model)
    values = faulty_values(50)
    values[30, 2] = 1e25  # fits float32 scaled, but its square does not
    assert fused.row_scorer is not None
    assert fused.row_scorer.errors(values) is None
    wide = plain.detect(values).scores
    assert np.isfinite(wide).all()
    assert wide.max() > 1e40
    np.testing.assert_allclose(fused.detect(values).scores, wide, rtol=1e-6)


def test_progress_through_the_fused_path_rises_once_to_the_total(tiny_model: TinyModel) -> None:
    fused, _ = fused_and_plain(tiny_model, chunk_windows=10, workers=1)
    values = faulty_values(103)  # 100 windows: ten chunks
    calls: list[tuple[int, int]] = []
    fused.detect(values, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10 * k, 100) for k in range(1, 11)]


def test_too_few_rows_are_refused_as_on_the_plain_path(tiny_model: TinyModel) -> None:
    fused, _ = fused_and_plain(tiny_model)
    with pytest.raises(NotEnoughRows):
        fused.detect(faulty_values(10)[:3])


def test_the_scoring_graph_is_a_valid_onnx_model(tiny_model: TinyModel) -> None:
    spec = tiny_model.store.open("tiny").spec
    graph = scoring_graph(tiny_model.store.open("tiny").onnx(), spec)
    assert graph is not None
    onnx.checker.check_model(onnx.load_from_string(graph), full_check=True)


def test_a_one_step_model_exported_without_the_transposes_scores_on_the_plain_path(
    tmp_path: Path,
) -> None:
    store = ModelStore(tmp_path)
    options = TINY_OPTIONS.changed(lookback=1, epochs=2)
    trained = train_detector(select(tiny_frame(), time_column="time", label_column="y"), options)
    store_trained(store, "one_step", trained)
    detector = load_detector(store, "one_step", engine="onnx")
    assert scoring_graph(store.open("one_step").onnx(), detector.spec) is None
    assert detector.row_scorer is None
    values = faulty_values(30)
    scores = detector.detect(values).scores
    assert scores.shape == (30,)
    assert np.isfinite(scores).all()


def test_the_scoring_graph_gathers_windows_in_the_lstms_time_major_layout(
    tiny_model: TinyModel,
) -> None:
    network = onnx.load_from_string(tiny_model.store.open("tiny").onnx())
    graph = scoring_graph(network.SerializeToString(), tiny_model.store.open("tiny").spec)
    assert graph is not None
    nodes = onnx.load_from_string(graph).graph.node
    # nothing reads the exporter's batch-major input any more: not its Transpose, nor the
    # Shapes that built the LSTMs' zero states
    assert not any(network.graph.input[0].name in node.input for node in nodes)
    assert len([n for n in nodes if n.op_type == "Transpose"]) < len(
        [n for n in network.graph.node if n.op_type == "Transpose"]
    )


def identity_network(spec: DetectorSpec, second_reader: bool) -> bytes:
    """A network that reconstructs its windows exactly, shaped as the exporter's graphs
    (time-major in between); with `second_reader`, the batch-major windows are read by a
    second node too, as the exporter's zero states read them before onnx_graph drops them."""
    shape = [None, spec.lookback, spec.n_features]
    perm = [1, 0, 2]
    nodes = [helper.make_node("Transpose", ["window"], ["time_major"], perm=perm)]
    if second_reader:  # (x + x) * 0.5: x again, to the last bit
        nodes += [
            helper.make_node("Identity", ["window"], ["copy"]),
            helper.make_node("Transpose", ["copy"], ["copy_time_major"], perm=perm),
            helper.make_node("Add", ["time_major", "copy_time_major"], ["twice"]),
            helper.make_node("Mul", ["twice", "half"], ["back"]),
        ]
    nodes.append(
        helper.make_node(
            "Transpose", ["back" if second_reader else "time_major"], ["reconstruction"], perm=perm
        )
    )
    graph = helper.make_graph(
        nodes,
        "identity",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, shape)],
        [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])] if second_reader else [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    return model.SerializeToString()


@pytest.mark.parametrize("second_reader", [False, True], ids=["one-reader", "two-readers"])
def test_a_perfect_reconstruction_shares_equally_on_the_fused_path_too(
    tiny_model: TinyModel, second_reader: bool
) -> None:
    spec = tiny_model.store.open("tiny").spec
    identity = identity_network(spec, second_reader)
    engine = OnnxEngine(identity, spec.lookback, spec.n_features)
    graph = scoring_graph(identity, spec)
    assert graph is not None
    fused = Detector("identity", 1, spec, engine, RowScorer(graph, engine, spec))
    values = faulty_values(50)
    assert fused.row_scorer is not None
    assert fused.row_scorer.errors(values) is not None
    for detector in (fused, Detector("identity", 1, spec, engine)):
        detection = detector.detect(values)
        np.testing.assert_array_equal(detection.scores, 0.0)
        np.testing.assert_array_equal(detection.contributions, 1 / spec.n_features)


def test_a_missing_value_is_filled_alike_on_the_fused_and_the_plain_path(
    tiny_model: TinyModel,
) -> None:
    fused, plain = fused_and_plain(tiny_model)
    values = faulty_values(50)
    values[30, 1] = np.nan  # a missing value (models.input_contract), not a refused one
    assert fused.row_scorer is not None
    assert fused.row_scorer.errors(values) is None  # the graph never sees it: filled first
    for call in ("detect", "detect_last"):
        fused_scores = getattr(fused, call)(values).scores
        np.testing.assert_allclose(fused_scores, getattr(plain, call)(values).scores, rtol=1e-5)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_values_that_are_not_finite_are_refused_as_on_the_plain_path(
    tiny_model: TinyModel, bad: float
) -> None:
    fused, plain = fused_and_plain(tiny_model)
    scored = faulty_values(50)
    scored[30, 1] = bad
    assert fused.row_scorer is not None
    assert fused.row_scorer.errors(scored) is None
    older = faulty_values(50)
    older[0, 2] = bad  # before the rows detect_last scores, still refused
    for detector in (fused, plain):
        for values, call in ((scored, detector.detect), (older, detector.detect_last)):
            with pytest.raises(NonFiniteValues, match="finite numbers"):
                call(values)
