"""Exact clean-ups of an exported ONNX graph: nodes removed or data moved more directly, never
arithmetic changed.

Keras' exporter builds every LSTM's zero initial state from the batch size at run time
(Shape, Cast, Slice, Concat, Cast, Expand, Unsqueeze: seven small nodes a layer), though an
LSTM without initial states starts from zeros by the ONNX standard. ONNX Runtime cannot fold
them (the batch size is known only at run time), so each call pays for them; here the
zeros are dropped and whatever fed only them goes with them.

The exporter writes the RepeatVector between encoder and decoder as a Tile of the bottleneck
vector, a Reshape to (batch, steps, units) whose target shape it computes at run time (Shape,
Cast, Slice, Slice, Concat, Cast) and a Transpose to the next LSTM's time-major layout: nine
nodes that copy one vector `steps` times. `repeat_time_major` writes the same copies as one
Reshape and one Expand straight into the time-major layout.
"""

from __future__ import annotations

from typing import Any

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
INITIAL_STATE_INPUTS = (5, 6)  # initial_h (every recurrent op) and initial_c (LSTM only)
# nodes that carry a value through unchanged in its numbers (only in its shape or type)
SHAPE_ONLY_OPS = ("Unsqueeze", "Squeeze", "Expand", "Reshape", "Identity", "Cast")


def cleaned(onnx_bytes: bytes) -> bytes:
    """The serialized graph with every clean-up of this module made."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    clean(model)
    return bytes(model.SerializeToString())


def clean(model: Any) -> None:
    """Every clean-up of this module, in place: the same outputs from fewer steps."""
    drop_zero_initial_states(model.graph)
    drop_unused(model.graph)
    if repeat_time_major(model):
        drop_unused(model.graph)  # the Tile, Reshape and shape arithmetic it no longer reads


def drop_zero_initial_states(graph: Any) -> int:
    """Clears the initial-state inputs of recurrent nodes that are all zeros; returns how many."""
    from onnx import numpy_helper

    producers = {output: node for node in graph.node for output in node.output}
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    def all_zeros(name: str) -> bool:
        while name not in constants:
            producer = producers.get(name)
            if producer is None or producer.op_type not in SHAPE_ONLY_OPS:
                return False
            name = producer.input[0]
        return not constants[name].any()

    dropped = 0
    for node in graph.node:
        if node.op_type not in RECURRENT_OPS:
            continue
        for index in INITIAL_STATE_INPUTS:
            if index < len(node.input) and node.input[index] and all_zeros(node.input[index]):
                node.input[index] = ""  # an optional input left out: zeros
                dropped += 1
    return dropped


def drop_unused(graph: Any) -> None:
    """Removes the nodes and initializers that no graph output depends on."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(_inputs(node))
    kept.reverse()
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _inputs(node: Any) -> set[str]:
    """The names a node reads, those its subgraphs (Loop, If, Scan bodies) read included."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        for subgraph in [attribute.g, *attribute.graphs]:
            for inner in subgraph.node:
                names |= _inputs(inner)
    return names


def repeat_time_major(model: Any) -> int:
    """Replaces each Transpose to time-major of a Tile-then-Reshape repeat of one vector per
    window by a Reshape and an Expand of that vector; returns how many. The pattern is
    accepted only where the shapes prove it is such a repeat (see `_repeated_vector`)."""
    import numpy as np
    from onnx import helper, numpy_helper, shape_inference

    graph = model.graph
    if not any(node.op_type == "Tile" for node in graph.node):
        return 0  # nothing to prove: shape inference (the costly part) is skipped
    shapes = _static_shapes(shape_inference.infer_shapes(model).graph)
    producers = {output: node for node in graph.node for output in node.output}
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    replaced = 0
    for node in list(graph.node):
        vector = _repeated_vector(node, producers, constants, shapes)
        if vector is None:
            continue
        name, units, steps = vector
        one_row = f"{node.name or node.output[0]}/one_row_of_windows"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([1, -1, units], np.int64), one_row + "_shape"),
                numpy_helper.from_array(np.array([steps, 1, 1], np.int64), one_row + "_repeats"),
            ]
        )
        index = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(
            index, helper.make_node("Expand", [one_row, one_row + "_repeats"], list(node.output))
        )
        graph.node.insert(index, helper.make_node("Reshape", [name, one_row + "_shape"], [one_row]))
        replaced += 1
    return replaced


def _repeated_vector(
    node: Any,
    producers: dict[str, Any],
    constants: dict[str, Any],
    shapes: dict[str, list[int | None]],
) -> tuple[str, int, int] | None:
    """(the repeated tensor, units, steps) when `node` is Transpose(perm 1,0,2) of
    Reshape(Tile(Y, repeats)) with Y of shape (batch, 1, ..., 1, units), repeats of 1 on the
    first and last axes, and the Reshape's output (batch, steps, units) with steps the product
    of the repeats. Every element of the Tile's output is then Y[b, 0, ..., 0, u], and the
    Reshape keeps the batch outermost and the units innermost, so the Transpose's output is
    Y's row b repeated at every step."""
    from onnx import helper

    if node.op_type != "Transpose" or [
        helper.get_attribute_value(a) for a in node.attribute if a.name == "perm"
    ] != [[1, 0, 2]]:
        return None
    reshape = producers.get(node.input[0])
    tile = producers.get(reshape.input[0]) if reshape is not None else None
    if reshape is None or reshape.op_type != "Reshape" or tile is None or tile.op_type != "Tile":
        return None
    repeated, repeats = tile.input[0], constants.get(tile.input[1])
    shape = shapes.get(repeated)
    target = _shape_value(reshape.input[1], producers, constants, shapes)
    if repeats is None or shape is None or target is None or len(target) != 3 or len(shape) < 3:
        return None
    units, steps = shape[-1], int(repeats.prod())
    if not isinstance(units, int) or target[1:] != [steps, units]:
        return None  # target[0] can only be the batch then (or 0, -1: the same), else no Reshape
    if any(d != 1 for d in shape[1:-1]) or len(repeats) != len(shape):
        return None
    if repeats[0] != 1 or repeats[-1] != 1:
        return None
    return repeated, units, steps


def _shape_value(
    name: str,
    producers: dict[str, Any],
    constants: dict[str, Any],
    shapes: dict[str, list[int | None]],
) -> list[int | None] | None:
    """The value of a 1-D shape tensor built from constants and Shape, Cast, Slice and Concat
    (as the exporter builds a Reshape's target): an int per element known before run time,
    None for the others; None when it is built some other way."""
    if name in constants:
        return [int(v) for v in constants[name].reshape(-1)]
    node = producers.get(name)
    if node is None:
        return None
    if node.op_type == "Shape" and not node.attribute:
        return shapes.get(node.input[0])
    if node.op_type == "Cast":
        return _shape_value(node.input[0], producers, constants, shapes)
    if node.op_type == "Concat":
        parts = [_shape_value(i, producers, constants, shapes) for i in node.input]
        return None if any(p is None for p in parts) else [d for p in parts for d in p]  # type: ignore[union-attr]
    if node.op_type == "Slice" and len(node.input) in (3, 4):
        value = _shape_value(node.input[0], producers, constants, shapes)
        bounds = [constants[i] for i in node.input[1:] if i in constants]
        if value is None or len(bounds) < len(node.input) - 1 or any(b.size != 1 for b in bounds):
            return None
        start, end = int(bounds[0][0]), int(bounds[1][0])
        if len(bounds) == 3 and int(bounds[2][0]) not in (0, -1):
            return None  # only 1-D values: axis 0
        return value[start:end]
    return None


def _static_shapes(graph: Any) -> dict[str, list[int | None]]:
    """Each tensor's shape as shape inference gives it: an int per known dimension, None else."""
    shapes = {}
    for info in [*graph.value_info, *graph.input, *graph.output]:
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            shapes[info.name] = [
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            ]
    return shapes
