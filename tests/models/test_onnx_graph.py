"""Exact clean-ups of exported graphs (models/onnx_graph.py)."""

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from models.onnx_graph import (
    RECURRENT_OPS,
    drop_unused,
    drop_zero_initial_states,
    repeat_time_major,
)
from tests.conftest import TinyModel

HIDDEN, INPUTS, STEPS = 3, 2, 4


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def test_the_exporters_zero_states_are_dropped_without_changing_a_number(
    tiny_model: TinyModel,
) -> None:
    exported = onnx.load_from_string(tiny_model.store.open("tiny").onnx())
    cleaned = onnx.load_from_string(exported.SerializeToString())
    recurrent = [n for n in cleaned.graph.node if n.op_type in RECURRENT_OPS]

    assert drop_zero_initial_states(cleaned.graph) == 2 * len(recurrent)  # initial_h and _c
    drop_unused(cleaned.graph)

    assert all(not n.input[5] and not n.input[6] for n in recurrent)
    assert len(cleaned.graph.node) < len(exported.graph.node)
    assert not any(n.op_type == "Expand" for n in cleaned.graph.node)  # the zeros' builders
    onnx.checker.check_model(cleaned, full_check=True)
    window = exported.graph.input[0].name
    windows = np.random.default_rng(0).normal(size=(37, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        run(cleaned, {window: windows})[0], run(exported, {window: windows})[0]
    )


def test_the_exporters_repeat_vector_becomes_one_expand_without_changing_a_number(
    tiny_model: TinyModel,
) -> None:
    exported = onnx.load_from_string(tiny_model.store.open("tiny").onnx())
    cleaned = onnx.load_from_string(exported.SerializeToString())
    drop_zero_initial_states(cleaned.graph)
    drop_unused(cleaned.graph)
    transposes = sum(n.op_type == "Transpose" for n in cleaned.graph.node)

    assert repeat_time_major(cleaned) == 1
    drop_unused(cleaned.graph)

    ops = [n.op_type for n in cleaned.graph.node]
    assert "Tile" not in ops
    assert ops.count("Expand") == 1
    assert ops.count("Transpose") == transposes - 1
    onnx.checker.check_model(cleaned, full_check=True)
    window = exported.graph.input[0].name
    for n_windows in (1, 37):
        windows = np.random.default_rng(n_windows).normal(size=(n_windows, 4, 3))
        feeds = {window: windows.astype(np.float32)}
        np.testing.assert_array_equal(run(cleaned, feeds)[0], run(exported, feeds)[0])


def repeat_then_transpose(shape: list[int | None], repeats: list[int], target: list[int]):  # type: ignore[no-untyped-def]
    """x of `shape` -> Tile(repeats) -> Reshape(target, a constant) -> Transpose(1, 0, 2)."""
    nodes = [
        helper.make_node("Tile", ["x", "repeats"], ["tiled"]),
        helper.make_node("Reshape", ["tiled", "target"], ["reshaped"]),
        helper.make_node("Transpose", ["reshaped"], ["y"], perm=[1, 0, 2]),
    ]
    constants = {"repeats": np.array(repeats, np.int64), "target": np.array(target, np.int64)}
    graph = helper.make_graph(
        nodes,
        "repeat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_only_a_proven_repeat_of_one_vector_per_window_is_rewritten() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 1, 1, 4)).astype(np.float32)
    # the exporter's shape: (batch, 1, 1, units) tiled along the third axis, then (batch, 5, 4)
    repeat = repeat_then_transpose([None, 1, 1, 4], [1, 1, 5, 1], [-1, 5, 4])
    expected = run(repeat, {"x": x})[0]
    assert repeat_time_major(repeat) == 1
    np.testing.assert_array_equal(run(repeat, {"x": x})[0], expected)
    # the same copies read in another layout, or a vector that is not one per window: kept
    for shape, repeats, target, feed in (
        ([None, 1, 1, 4], [1, 1, 5, 1], [-1, 4, 5], x),  # (batch, units, steps): not a repeat
        ([None, 2, 1, 4], [1, 1, 5, 1], [-1, 10, 4], rng.normal(size=(6, 2, 1, 4))),
        ([None, 1, 1, 4], [2, 1, 5, 1], [-1, 5, 4], x),  # the batch repeated too
    ):
        model = repeat_then_transpose(shape, repeats, target)
        assert repeat_time_major(model) == 0
        run(model, {"x": feed.astype(np.float32)})  # still a valid graph


def lstm_with_initial_state(value: float) -> onnx.ModelProto:
    """One LSTM whose initial hidden state is `value` everywhere, expanded to the batch."""
    rng = np.random.default_rng(1)
    weights = {
        "W": rng.normal(size=(1, 4 * HIDDEN, INPUTS)).astype(np.float32),
        "R": rng.normal(size=(1, 4 * HIDDEN, HIDDEN)).astype(np.float32),
        "state_value": np.array(value, np.float32),
        "state_shape": np.array([1, 5, HIDDEN], np.int64),
    }
    nodes = [
        helper.make_node("Expand", ["state_value", "state_shape"], ["state"]),
        helper.make_node("LSTM", ["x", "W", "R", "", "", "state"], ["y"], hidden_size=HIDDEN),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [STEPS, 5, INPUTS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_only_an_initial_state_of_zeros_is_dropped() -> None:
    x = np.random.default_rng(2).normal(size=(STEPS, 5, INPUTS)).astype(np.float32)
    for value, dropped in ((0.0, 1), (0.5, 0)):
        model = lstm_with_initial_state(value)
        before = run(model, {"x": x})[0]
        assert drop_zero_initial_states(model.graph) == dropped
        drop_unused(model.graph)
        assert len(model.graph.node) == 2 - dropped  # the Expand goes with its state
        np.testing.assert_array_equal(run(model, {"x": x})[0], before)


def test_drop_unused_keeps_what_a_subgraph_reads() -> None:
    outer = helper.make_node("Neg", ["x"], ["read_by_branch"])
    branch = helper.make_graph(
        [helper.make_node("Identity", ["read_by_branch"], ["out"])],
        "branch",
        [],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2])],
    )
    nodes = [
        outer,
        helper.make_node("Abs", ["x"], ["unused"]),
        helper.make_node("Constant", [], ["flag"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("If", ["flag"], ["y"], then_branch=branch, else_branch=branch),
    ]
    graph = helper.make_graph(
        nodes,
        "if",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.zeros(2, np.float32), "unused_weights")],
    )
    drop_unused(graph)
    assert [n.op_type for n in graph.node] == ["Neg", "Constant", "If"]
    assert not graph.initializer
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    np.testing.assert_array_equal(run(model, {"x": np.array([1, -2], np.float32)})[0], [-1, 2])
