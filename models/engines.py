"""Inference engines: reconstruct windows without model.predict's per-call overhead.

Two engines behind one interface: ONNX Runtime on the graph exported at training time (no
TensorFlow in the process, and the fastest) and, for artifacts without ONNX, a tf.function
traced once with a fixed input signature (model.predict's fixed cost per call is far larger).
docs/benchmarks.md times both engines ("In-process scoring") and a model.predict server ("HTTP").

Both cut large inputs into chunks and hand each chunk, with its reconstruction, to a function
of the caller's (`map_chunks`): scoring then happens while the chunk is still in the CPU's
cache, and the reconstruction of the whole input never has to exist at once.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from models.onnx_graph import cleaned

Progress = Callable[[int, int], None]  # windows done, windows in all
T = TypeVar("T")


def available_cores(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: its CPU affinity (taskset, `docker --cpuset-cpus`),
    capped by a cgroup v2 CPU quota (`docker --cpus 1.5` gives 2), so that a container limited
    to one core does not run a thread per core of its host."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 file, or one we cannot read: no quota
        pass
    return cores


class Engine:
    name = "engine"
    # windows per chunk: memory stays bounded whatever the request
    chunk_windows = 8192
    # chunks reconstructed at the same time; 1 runs every chunk in the calling thread
    workers = 1
    # the bytes of the network's weights as this engine holds them (models.loading.footprint)
    weights_bytes = 0

    def __init__(self, lookback: int, n_features: int) -> None:
        self.window_shape = (lookback, n_features)

    def map_chunks(
        self,
        windows: np.ndarray,
        fn: Callable[[np.ndarray, np.ndarray], T],
        progress: Progress | None = None,
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> list[T]:
        """`fn(chunk, reconstructed)` for each chunk of `windows`, results in input order.

        windows  # (n_windows, lookback, n_features), any dtype or layout (a strided view is fine)
        prepare  # applied to each chunk before the network sees it; `fn` gets the prepared chunk
        progress # progress(done, total) as chunks finish, in the calling thread
        """

        def one(start: int, stop: int) -> T:
            chunk = windows[start:stop]
            if prepare is not None:
                chunk = prepare(chunk)
            chunk = np.ascontiguousarray(chunk, dtype=np.float32)
            # ONNX Runtime aborts the whole process on an empty batch: never call it with one
            return fn(chunk, self._run(chunk) if len(chunk) else np.zeros_like(chunk))

        return in_chunks(len(windows), self.chunk_windows, self.workers, one, progress)

    def reconstruct(self, windows: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """windows  # (n_windows, lookback, n_features) -> float32, same shape"""
        parts = self.map_chunks(windows, lambda _, reconstructed: reconstructed, progress)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def warm_up(self) -> tuple[np.ndarray, np.ndarray]:
        """Run once so that the first request pays no start-up cost; returns the window of
        zeros it ran and its reconstruction, for the loader to check."""
        window = np.zeros((1, *self.window_shape), dtype=np.float32)
        return window, self.reconstruct(window)

    def _run(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def in_chunks(
    n_items: int,
    chunk_size: int,
    workers: int,
    one: Callable[[int, int], T],
    progress: Progress | None = None,
) -> list[T]:
    """`one(start, stop)` for each chunk of `n_items` (one empty chunk when there are none),
    results in order, spread over `workers` threads (the calling thread one of them).

    progress  # progress(items done, n_items) as chunks finish, in the calling thread
    """
    starts = range(0, max(n_items, 1), chunk_size)

    def chunk(index: int) -> T:
        return one(starts[index], min(starts[index] + chunk_size, n_items))

    def report(chunks_done: int) -> None:
        if progress is not None:
            progress(min(chunks_done * chunk_size, n_items), n_items)

    if len(starts) == 1:  # the dashboard refresh's case: no queue, no pool
        result = chunk(0)
        report(1)
        return [result]
    helpers = min(workers, len(starts)) - 1
    return _ChunkQueue(chunk, len(starts), report).run(helpers, workers - 1)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool per size, shared by every engine of the process: models loaded side by side do
    not each keep threads, and concurrent requests queue their chunks on the same cores."""
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="rarewatch-chunk")
        return _pools[workers]


class _ChunkQueue(Generic[T]):
    """Chunks taken off one queue by the calling thread and up to `helpers` pool threads.

    The caller works instead of waiting for the pool: the first chunk starts at once, without
    the latency of waking a pool thread (a good part of a 1,024-window call), and the pool needs
    one thread fewer than there are cores. A failed chunk stops the others from taking more.
    """

    def __init__(self, one: Callable[[int], T], n_chunks: int, report: Callable[[int], None]):
        self._one, self._n_chunks, self._report = one, n_chunks, report
        self._results: list[Any] = [None] * n_chunks
        self._lock = threading.Lock()
        self._claimed = self._done = 0
        self._reported = 0  # chunks done at the caller's last progress report
        self._failed = False

    def run(self, helpers: int, pool_size: int) -> list[T]:
        pending = [_pool(pool_size).submit(self._take_chunks) for _ in range(helpers)]
        try:
            self._take_chunks(in_caller=True)
        finally:
            for future in pending:
                future.result()  # waits, and re-raises a helper's failure
        if self._reported < self._n_chunks:  # the last chunks finished in helpers
            self._report(self._n_chunks)
        return self._results

    def _take_chunks(self, in_caller: bool = False) -> None:
        while (index := self._claim()) is not None:
            try:
                self._results[index] = self._one(index)
            except BaseException:
                self._failed = True
                raise
            with self._lock:
                self._done += 1
                done = self._done
            if in_caller:  # progress is heard in the calling thread only
                self._reported = done
                self._report(done)

    def _claim(self) -> int | None:
        with self._lock:
            if self._failed or self._claimed == self._n_chunks:
                return None
            self._claimed += 1
            return self._claimed - 1


class TensorFlowEngine(Engine):
    """A tf.function traced once with a fixed input signature: any batch size, no retracing.
    TensorFlow spreads each call over the cores itself, so chunks run one after another."""

    name = "tensorflow"

    def __init__(self, model: Callable[..., Any], lookback: int, n_features: int) -> None:
        from models.tensorflow_import import import_tensorflow

        super().__init__(lookback, n_features)
        tf = import_tensorflow()
        signature = [tf.TensorSpec(shape=(None, lookback, n_features), dtype=tf.float32)]
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def _run(self, windows: np.ndarray) -> np.ndarray:
        return self._forward(windows).numpy()


class OnnxEngine(Engine):
    """ONNX Runtime on the graph exported (and checked against Keras) at training time.

    Each call runs on one thread, and large inputs are spread in chunks of a few hundred windows
    over one thread per core, the calling thread included. An LSTM's matrices are too small for
    ONNX Runtime's own intra-op threads to keep two cores busy, and chunks of a few hundred
    windows stay in cache where very large batches run slower per window
    (docs/benchmarks.md compares this with a default session).
    """

    name = "onnx"
    chunk_windows = 512

    def __init__(self, onnx_bytes: bytes, lookback: int, n_features: int) -> None:
        super().__init__(lookback, n_features)
        self.workers = available_cores()
        # the stored graph without the exporter's needless steps (models/onnx_graph.py)
        self.graph = cleaned(onnx_bytes)
        self.weights_bytes = len(self.graph)  # the initializers are nearly all of it
        # made on first use: a detector with a row scorer calls the network through the scoring
        # graph's session, and only its plain path (windows sent as they are, values past
        # float32) comes here; a server holding many models should not make and keep two
        # sessions of each
        self._session: Any | None = None

    @property
    def session(self) -> Any:
        """The ONNX Runtime session itself (one thread per call), made on first use."""
        session = self._session
        if session is None:  # two threads may both make one: the last one made stays
            session = self._session = single_thread_session(self.graph)
        return session

    def _run(self, windows: np.ndarray) -> np.ndarray:
        session = self.session
        return session.run(None, {session.get_inputs()[0].name: windows})[0]


def single_thread_session(onnx_bytes: bytes) -> Any:
    """An ONNX Runtime session whose calls run on the calling thread alone (see OnnxEngine)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
