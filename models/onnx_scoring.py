"""Scaling, windowing, the network and its squared errors in one ONNX Runtime call per chunk.

The plain path (any engine) scales rows in numpy, copies windows out of them, reconstructs
them and reduces the errors in numpy: a dozen numpy calls per chunk, which two chunks running
side by side take in turns (each needs the GIL between its calls). Here the stored network
graph is extended, when the model loads, with the steps around it, so that one `session.run`
per chunk (the GIL released for all of it) takes raw rows and gives each window's score and
each feature's share of it, and checks on the way that every value is finite. A model's stored
error weights or error standard (models.scoring.ErrorStandard) are steps of the same graph,
and so are a network's several members (models.ensemble: each member's squared errors over
its median, averaged) and a PCA member (models.pca_member: its reconstruction, in float64
from the float32 windows, combined with the network's squared errors before the weights or
standard);
smoothing, which joins windows across chunks, is Detector._decide's, after it.

The added steps do the plain path's arithmetic in its precision: scaling in float64 then
float32, float32 squares summed over the scored timesteps, float64 from there on. Both paths
gave bit-identical scores on the models measured; the tests allow 1e-6 of relative difference.

Keras' exporter wraps the network in Transposes: batch-major windows in and out, time-major
for the LSTM layers. The errors are taken on the time-major tensors and the final Transpose is
dropped; the windows are gathered straight into the time-major layout and the first Transpose
goes too (once the LSTMs' zero initial states are dropped, models/onnx_graph.py, nothing else
reads the batch-major windows). A graph of another shape gets no scoring
graph, and its detector the plain path (a model with a lookback of 1, for one, exports
without those Transposes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.engines import OnnxEngine, Progress, in_chunks, single_thread_session
from models.onnx_graph import clean
from models.scoring import (
    ErrorStandardisation,
    WindowErrors,
    scored_steps,
    share_perfect_equally,
)
from models.spec import DetectorSpec
from models.windows import WindowTransform

ROWS, SCORES, SHARES, ROWS_SUM, RECONSTRUCTION = (
    "rarewatch_rows",
    "rarewatch_scores",
    "rarewatch_shares",
    "rarewatch_rows_sum",
    "rarewatch_reconstruction",
)
SCORING_OUTPUTS = [SCORES, SHARES, ROWS_SUM]  # what a request asks for
TIME_MAJOR = [1, 0, 2]  # the permutation between (windows, steps, features) and (steps, ...)
MIN_OPSET = 13  # axes as inputs of Unsqueeze and ReduceSum
AXES_INPUT_OF_REDUCE_MAX = 18  # before it, ReduceMax takes its axes as an attribute


def scoring_graph(network: bytes, spec: DetectorSpec) -> bytes | None:
    """The network graph extended into raw rows -> (SCORES, SHARES, ROWS_SUM), or None where
    the graph does not have the exporter's shape or the model transforms its windows (not
    built in).

    ROWS      # (n_rows, n_features) float64, raw units, n_rows >= lookback
    SCORES    # (n_windows,) float64: scoring.window_errors' scores
    SHARES    # (n_windows, n_features) float64: its contributions (NaN where the error is 0:
              # RowScorer.errors shares those out equally)
    ROWS_SUM  # () float64: the sum of ROWS, finite only if every value is (the input check,
              # made here in the threads rather than by a pass of numpy before them)
    RECONSTRUCTION  # (lookback, n_windows, n_features) float32: the network's output,
                    # time-major; asked for by the load-time check alone (RowScorer.warm_up)
    """
    if spec.window_transform is not WindowTransform.NONE:
        return None
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(network)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET or len(graph.input) != 1 or len(graph.output) != 1:
        return None
    window, reconstruction = graph.input[0].name, graph.output[0].name
    clean(model)  # models/onnx_graph.py; next to nothing on OnnxEngine.graph, cleaned already
    nodes = list(graph.node)
    to_time_major = _transposes(nodes, lambda node: list(node.input) == [window])
    from_time_major = _transposes(nodes, lambda node: list(node.output) == [reconstruction])
    if not to_time_major or len(from_time_major) != 1:
        return None
    if any(reconstruction in node.input for node in nodes):
        return None
    into_time_major, out_of_time_major = to_time_major[0], from_time_major[0]
    windows_tm, reconstructed_tm = into_time_major.output[0], out_of_time_major.input[0]
    network_output = reconstructed_tm
    # Both are dropped: the windows are gathered time-major, and the errors taken before the
    # reconstruction goes back to batch-major. Without the zero states' Shape nodes, nothing
    # else reads the batch-major windows in the exporter's graphs; any other graph gets them
    # transposed back for its other readers. A network of several members transposes the
    # windows once per member: the others read the gathered ones too.
    dropped = [*to_time_major, out_of_time_major]
    other_readers = any(window in n.input for n in nodes if n not in dropped)

    lookback, n_features = spec.lookback, spec.n_features
    n_steps = scored_steps(lookback, spec.score_on)
    constants: dict[str, np.ndarray] = {
        "mean": np.asarray(spec.scaler.mean, np.float64),
        "scale": np.asarray(spec.scaler.scale, np.float64),
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "lookback": np.array(lookback, np.int64),
        "rows_past_first_window": np.array(lookback - 1, np.int64),
        "axis_1": np.array([1], np.int64),
        "steps_by_rest": np.array([n_steps, -1], np.int64),
        "ones_over_steps": np.ones((1, n_steps), np.float32),
        "scored_values": np.array(n_steps * n_features, np.float64),
    }
    constants |= _squares_constants(spec)
    constants |= _score_constants(spec, n_steps)
    constants |= _member_constants(spec, n_steps)
    if n_steps < lookback:  # the last step only: its bounds along the (outer) step axis
        constants |= {
            "first_scored_step": np.array([lookback - n_steps], np.int64),
            "end_of_steps": np.array([lookback], np.int64),
            "axis_0": np.array([0], np.int64),
        }

    def r(short: str) -> str:  # the names of what this module adds to the graph
        return f"rarewatch/{short}"

    graph.initializer.extend(numpy_helper.from_array(v, r(k)) for k, v in constants.items())
    node = helper.make_node
    # rows -> scaled float32 rows -> windows, gathered straight into the LSTMs' time-major
    # layout: row index first_row + step at (step, window)
    before = [
        node("Sub", [ROWS, r("mean")], [r("centred")]),
        node("Div", [r("centred"), r("scale")], [r("scaled64")]),
        node("Cast", [r("scaled64")], [r("scaled")], to=TensorProto.FLOAT),
        node("Shape", [ROWS], [r("shape")]),
        node("Gather", [r("shape"), r("zero")], [r("n_rows")], axis=0),
        node("Sub", [r("n_rows"), r("rows_past_first_window")], [r("n_windows")]),
        node("Range", [r("zero"), r("n_windows"), r("one")], [r("first_rows")]),
        node("Range", [r("zero"), r("lookback"), r("one")], [r("steps")]),
        node("Unsqueeze", [r("steps"), r("axis_1")], [r("steps_column")]),
        node("Add", [r("steps_column"), r("first_rows")], [r("row_of_each_step")]),
        node("Gather", [r("scaled"), r("row_of_each_step")], [windows_tm], axis=0),
    ]
    before += [node("Identity", [windows_tm], list(t.output)) for t in to_time_major[1:]]
    if other_readers:
        before.append(node("Transpose", [windows_tm], [window], perm=TIME_MAJOR))
    after = []
    # the PCA member reads the whole windows, before the network's are cut to the scored steps
    member_nodes = _member_nodes(spec, windows_tm, r("squares"), r("combined_squares"))
    if n_steps < lookback:  # only the last step is scored
        scored = [r("first_scored_step"), r("end_of_steps"), r("axis_0")]
        after += [
            node("Slice", [reconstructed_tm, *scored], [r("scored_reconstruction")]),
            node("Slice", [windows_tm, *scored], [r("scored_windows")]),
        ]
        reconstructed_tm, windows_tm = r("scored_reconstruction"), r("scored_windows")
    after += [
        *_squares_nodes(spec, reconstructed_tm, windows_tm, r("squares")),
        *member_nodes,
        *_score_nodes(spec, r("combined_squares") if member_nodes else r("squares"), opset),
        node("ReduceSum", [ROWS], [ROWS_SUM], keepdims=0),
        node("Identity", [network_output], [RECONSTRUCTION]),
    ]

    kept = [n for n in nodes if all(n is not d for d in dropped)]
    del graph.node[:]
    graph.node.extend(before + kept + after)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(ROWS, TensorProto.DOUBLE, [None, n_features]))
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info(SCORES, TensorProto.DOUBLE, [None]),
            helper.make_tensor_value_info(SHARES, TensorProto.DOUBLE, [None, n_features]),
            helper.make_tensor_value_info(ROWS_SUM, TensorProto.DOUBLE, []),
            helper.make_tensor_value_info(
                RECONSTRUCTION,
                TensorProto.FLOAT,
                [lookback, None, spec.network.members * n_features],
            ),
        ]
    )
    return model.SerializeToString()


def _squares_constants(spec: DetectorSpec) -> dict[str, np.ndarray]:
    """The constants of `_squares_nodes`, by their short names."""
    n_features, medians = spec.n_features, spec.member_medians
    if medians is None:
        return {"windows_by_features": np.array([-1, n_features], np.int64)}
    members = len(medians)
    return {
        "by_member": np.array([0, 0, members, n_features], np.int64),
        "axis_2": np.array([2], np.int64),
        "windows_members_features": np.array([-1, members, n_features], np.int64),
        "member_medians": np.asarray(medians, np.float64)[:, None],
        "members": np.array(members, np.float64),
    }


def _squares_nodes(
    spec: DetectorSpec, reconstructed_tm: str, windows_tm: str, squares: str
) -> list[Any]:
    """Each window's per-feature squared errors (float64, summed over the scored steps) into
    `squares`: scoring.squared_errors' arithmetic, or with several members
    ensemble.network_squares' (each member's over its median, averaged). The steps are the
    outer axis here: a (1 x steps) @ (steps x the rest) product sums them.

    reconstructed_tm  # (steps, n_windows, members * n_features) float32, the scored steps
    windows_tm  # (steps, n_windows, n_features) float32, the same steps
    """
    from onnx import TensorProto, helper

    def r(short: str) -> str:
        return f"rarewatch/{short}"

    node = helper.make_node
    nodes = []
    several = spec.member_medians is not None
    if several:  # (steps, windows, members, features) against (steps, windows, 1, features)
        nodes += [
            node("Reshape", [reconstructed_tm, r("by_member")], [r("members_reconstruction")]),
            node("Unsqueeze", [windows_tm, r("axis_2")], [r("windows_per_member")]),
        ]
        reconstructed_tm, windows_tm = r("members_reconstruction"), r("windows_per_member")
    nodes += [
        node("Sub", [reconstructed_tm, windows_tm], [r("diff")]),
        node("Mul", [r("diff"), r("diff")], [r("squares_per_step")]),
        node("Reshape", [r("squares_per_step"), r("steps_by_rest")], [r("squares_by_step")]),
        node("MatMul", [r("ones_over_steps"), r("squares_by_step")], [r("squares_flat")]),
    ]
    if not several:
        return [
            *nodes,
            node("Reshape", [r("squares_flat"), r("windows_by_features")], [r("squares32")]),
            node("Cast", [r("squares32")], [squares], to=TensorProto.DOUBLE),
        ]
    return [
        *nodes,
        node("Reshape", [r("squares_flat"), r("windows_members_features")], [r("squares32")]),
        node("Cast", [r("squares32")], [r("member_squares")], to=TensorProto.DOUBLE),
        node("Div", [r("member_squares"), r("member_medians")], [r("over_medians")]),
        node("ReduceSum", [r("over_medians"), r("axis_1")], [r("members_sum")], keepdims=0),
        node("Div", [r("members_sum"), r("members")], [squares]),
    ]


def _score_constants(spec: DetectorSpec, n_steps: int) -> dict[str, np.ndarray]:
    """The constants of `_score_nodes`, by their short names."""
    constants = {}
    if spec.error_weights is not None:
        constants["weights"] = np.asarray(spec.error_weights, np.float64)
    standard = spec.error_standard
    if standard is not None:
        constants |= {
            "steps64": np.array(n_steps, np.float64),
            "centre": np.asarray(standard.centre, np.float64),
            "spread": np.asarray(standard.spread, np.float64),
            "zero64": np.array(0.0, np.float64),
            "cap": np.array(standard.cap, np.float64),
            # the mean of the squared standardised errors is over the features alone
            "scored_values": np.array(spec.n_features, np.float64),
        }
    return constants


def _member_constants(spec: DetectorSpec, n_steps: int) -> dict[str, np.ndarray]:
    """The constants of `_member_nodes`, by their short names (none without a member)."""
    member = spec.pca_member
    if member is None:
        return {}
    basis = member.member().basis
    n_values = spec.lookback * spec.n_features
    first_scored = (spec.lookback - n_steps) * spec.n_features
    return {
        "pca/mean": basis.mean,
        "pca/components_t": np.ascontiguousarray(basis.components.T),
        "pca/scored_components": np.ascontiguousarray(basis.components[:, first_scored:]),
        "pca/scored_mean": basis.mean[first_scored:],
        "pca/windows_by_values": np.array([-1, n_values], np.int64),
        "pca/windows_steps_features": np.array([-1, n_steps, spec.n_features], np.int64),
        "pca/first_scored_value": np.array([first_scored], np.int64),
        "pca/end_of_values": np.array([n_values], np.int64),
        "pca/network_median": np.array(member.network_median, np.float64),
        "pca/pca_median": np.array(member.pca_median, np.float64),
        "pca/half": np.array(0.5, np.float64),
    }


def _member_nodes(spec: DetectorSpec, windows_tm: str, squares: str, combined: str) -> list[Any]:
    """The PCA member's squared errors per feature beside the network's `squares` and both
    combined into `combined`: pca_member.PcaBasis.squares and PcaMember.combined's arithmetic
    (float64 from the float32 windows on). None without a member.

    windows_tm  # (lookback, n_windows, n_features) float32, the network's input
    """
    if spec.pca_member is None:
        return []
    from onnx import TensorProto, helper

    def r(short: str) -> str:
        return f"rarewatch/{short}"

    node = helper.make_node
    flat = r("pca/flat")
    nodes = [
        node("Transpose", [windows_tm], [r("pca/windows")], perm=TIME_MAJOR),
        node("Reshape", [r("pca/windows"), r("pca/windows_by_values")], [r("pca/flat32")]),
        node("Cast", [r("pca/flat32")], [flat], to=TensorProto.DOUBLE),
        node("Sub", [flat, r("pca/mean")], [r("pca/centred")]),
        node("MatMul", [r("pca/centred"), r("pca/components_t")], [r("pca/coordinates")]),
        node("MatMul", [r("pca/coordinates"), r("pca/scored_components")], [r("pca/projected")]),
        node("Add", [r("pca/projected"), r("pca/scored_mean")], [r("pca/reconstructed")]),
    ]
    if scored_steps(spec.lookback, spec.score_on) < spec.lookback:  # the last step's values
        bounds = [r("pca/first_scored_value"), r("pca/end_of_values"), r("axis_1")]
        nodes.append(node("Slice", [flat, *bounds], [r("pca/scored_flat")]))
        flat = r("pca/scored_flat")
    return [
        *nodes,
        node("Sub", [r("pca/reconstructed"), flat], [r("pca/diff")]),
        node("Mul", [r("pca/diff"), r("pca/diff")], [r("pca/diff_squares")]),
        node(
            "Reshape",
            [r("pca/diff_squares"), r("pca/windows_steps_features")],
            [r("pca/squares_by_step")],
        ),
        node("ReduceSum", [r("pca/squares_by_step"), r("axis_1")], [r("pca/squares")], keepdims=0),
        node("Div", [squares, r("pca/network_median")], [r("pca/network_part")]),
        node("Div", [r("pca/squares"), r("pca/pca_median")], [r("pca/pca_part")]),
        node("Add", [r("pca/network_part"), r("pca/pca_part")], [r("pca/sum")]),
        node("Mul", [r("pca/half"), r("pca/sum")], [combined]),
    ]


def _score_nodes(spec: DetectorSpec, squares: str, opset: int) -> list[Any]:
    """From each window's per-feature squared errors (float64, summed over the scored steps)
    to SCORES and SHARES: scoring.errors_from_squares' arithmetic. A perfect reconstruction's
    shares (0 / 0) are made equal by RowScorer.errors (a pass over one share per window, not
    over every share)."""
    from onnx import helper

    def r(short: str) -> str:
        return f"rarewatch/{short}"

    node = helper.make_node
    nodes, weighted = [], squares
    if spec.error_weights is not None:
        nodes.append(node("Div", [weighted, r("weights")], [r("weighted")]))
        weighted = r("weighted")
    standard = spec.error_standard
    if standard is not None:  # scoring.ErrorStandard.standardised, then squared
        nodes += [
            node("Div", [weighted, r("steps64")], [r("mean_squares")]),
            node("Sqrt", [r("mean_squares")], [r("rms")]),
            node("Sub", [r("rms"), r("centre")], [r("above_centre")]),
            node("Div", [r("above_centre"), r("spread")], [r("z_unclipped")]),
            node("Clip", [r("z_unclipped"), r("zero64"), r("cap")], [r("z")]),
            node("Mul", [r("z"), r("z")], [r("z_squares")]),
        ]
        weighted = r("z_squares")
    by_max = standard is not None and standard.aggregation is ErrorStandardisation.MAX
    nodes += [
        node("ReduceSum", [weighted, r("axis_1")], [r("total")], keepdims=1),
        node("Div", [weighted, r("total")], [SHARES]),
        node("Squeeze", [r("total"), r("axis_1")], [r("total_of_window")]),
        node(
            "Div",
            [r("total_of_window"), r("scored_values")],
            [r("mean_score") if by_max else SCORES],
        ),
    ]
    if by_max and opset >= AXES_INPUT_OF_REDUCE_MAX:  # the largest standardised error instead
        nodes.append(node("ReduceMax", [r("z"), r("axis_1")], [SCORES], keepdims=0))
    elif by_max:
        nodes.append(node("ReduceMax", [r("z")], [SCORES], axes=[1], keepdims=0))
    return nodes


def _transposes(nodes: list[Any], where: Any) -> list[Any]:
    """The Transpose nodes between batch-major and time-major that `where` accepts."""
    from onnx import helper

    return [
        node
        for node in nodes
        if node.op_type == "Transpose"
        and where(node)
        and any(
            a.name == "perm" and helper.get_attribute_value(a) == TIME_MAJOR for a in node.attribute
        )
    ]


class RowScorer:
    """Raw rows to each window's errors through the scoring graph, chunk by chunk side by side
    as the engine spreads its chunks (one single-threaded call per chunk)."""

    def __init__(self, graph: bytes, engine: OnnxEngine, spec: DetectorSpec) -> None:
        self.session = single_thread_session(graph)  # one call: one chunk on one thread
        self._engine = engine  # its chunk size and threads are the row scorer's too
        self._lookback, self._n_features = spec.lookback, spec.n_features
        self._mean = spec.scaler.mean

    def errors(self, rows: np.ndarray, progress: Progress | None = None) -> WindowErrors | None:
        """rows  # (n_rows >= lookback, n_features), raw units

        None where a value is not finite (NaN, infinity) or something overflowed on the way (a
        scaled value past float32, a squared error past float32, a non-finite reconstruction):
        the plain path says which value is at fault, or redoes such an input in float64.
        """
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        overlap = self._lookback - 1  # a chunk's windows need the rows up to its last one's end

        def one(start: int, stop: int) -> list[np.ndarray]:
            # nothing but the call: numpy work in both threads as their calls end would make
            # them take turns at the GIL (measured slower than joining in the calling thread)
            return self.session.run(SCORING_OUTPUTS, {ROWS: rows[start : stop + overlap]})

        engine = self._engine
        parts = in_chunks(len(rows) - overlap, engine.chunk_windows, engine.workers, one, progress)
        scores, shares, rows_sums = zip(*parts, strict=True)
        # a non-finite sum of rows: a value that is not finite (or finite values whose sum
        # overflows, which the plain path then scores in float64)
        if not np.isfinite(rows_sums).all():
            return None
        joined_scores = np.concatenate(scores)
        if not np.isfinite(joined_scores).all():
            return None
        joined_shares = np.concatenate(shares)
        # the scores are finite, so a NaN share is 0 / 0: a total error of 0
        share_perfect_equally(joined_shares, np.isnan(joined_shares[:, 0]))
        return WindowErrors(joined_scores, joined_shares)

    def warm_up(self) -> tuple[np.ndarray, np.ndarray]:
        """Run once, as Engine.warm_up: a window of zeros (rows at the scaler's mean) and the
        network's reconstruction of it, batch-major, for the loader to check; the engine's own
        session need not be made for that."""
        rows = np.tile(np.asarray(self._mean, np.float64), (self._lookback, 1))
        reconstructed = self.session.run([RECONSTRUCTION, *SCORING_OUTPUTS], {ROWS: rows})[0]
        window = np.zeros((1, self._lookback, self._n_features), dtype=np.float32)
        return window, np.transpose(reconstructed, TIME_MAJOR)
