"""Exact clean-ups of an exported ONNX graph: nodes removed, never arithmetic changed.

Keras' exporter builds every LSTM's zero initial state from the batch size at run time
(Shape, Cast, Slice, Concat, Cast, Expand, Unsqueeze: seven small nodes a layer), though an
LSTM without initial states starts from zeros by the ONNX standard. ONNX Runtime cannot fold
them (the batch size is known only at run time), so each call pays for them; here the
zeros are dropped and whatever fed only them goes with them.
"""

from __future__ import annotations

from typing import Any

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
INITIAL_STATE_INPUTS = (5, 6)  # initial_h (every recurrent op) and initial_c (LSTM only)
# nodes that carry a value through unchanged in its numbers (only in its shape or type)
SHAPE_ONLY_OPS = ("Unsqueeze", "Squeeze", "Expand", "Reshape", "Identity", "Cast")


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
