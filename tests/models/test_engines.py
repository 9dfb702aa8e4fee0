import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from models.artifact import ModelStore
from models.engines import OnnxEngine, available_cores
from models.errors import InvalidInput
from models.loading import load_detector
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame, with_fault


def test_onnx_and_tensorflow_engines_score_alike(tiny_model: TinyModel) -> None:
    values = with_fault(tiny_frame(300, seed=3), 150)[TINY_FEATURES].to_numpy()
    onnx = load_detector(tiny_model.store, "tiny", engine="onnx")
    tensorflow = load_detector(tiny_model.store, "tiny", engine="tensorflow")
    assert (onnx.engine.name, tensorflow.engine.name) == ("onnx", "tensorflow")
    a, b = onnx.detect(values), tensorflow.detect(values)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(a.is_anomaly, b.is_anomaly)


def test_the_default_engine_is_onnx_when_the_artifact_has_a_graph(tiny_model: TinyModel) -> None:
    assert load_detector(tiny_model.store, "tiny").engine.name == "onnx"


def test_an_artifact_without_onnx_falls_back_to_tensorflow(tmp_path, tiny_model) -> None:
    store = ModelStore(tmp_path)
    _, spec, weights = tiny_model.store.read("tiny")
    store.write("old", spec, weights)
    assert load_detector(store, "old").engine.name == "tensorflow"
    with pytest.raises(InvalidInput, match="no ONNX graph"):
        load_detector(store, "old", engine="onnx")


def test_batches_larger_than_one_chunk_are_reconstructed_whole(tiny_model: TinyModel) -> None:
    detector = load_detector(tiny_model.store, "tiny")
    windows = np.random.default_rng(0).normal(size=(9000, 4, 3)).astype(np.float32)
    reconstructed = detector.engine.reconstruct(windows)
    assert reconstructed.shape == windows.shape
    np.testing.assert_allclose(
        reconstructed[-5:], detector.engine.reconstruct(windows[-5:]), rtol=1e-6
    )


def test_a_detector_with_a_row_scorer_keeps_no_plain_session_until_its_plain_path_runs(
    tiny_model: TinyModel,
) -> None:
    detector = load_detector(tiny_model.store, "tiny")
    fresh = load_detector(tiny_model.store, "tiny")
    assert detector.row_scorer is not None
    assert isinstance(detector.engine, OnnxEngine)
    assert detector.engine._session is None  # one session per model in memory, not two
    windows = np.random.default_rng(1).normal(size=(6, 4, 3)).astype(np.float32)
    plain = detector.detect_windows(windows)  # the plain path makes it again
    assert detector.engine._session is not None
    fresh.engine.session  # noqa: B018 - made before its first call
    np.testing.assert_array_equal(plain.scores, fresh.detect_windows(windows).scores)


def test_scoring_with_onnx_never_imports_tensorflow(tiny_model: TinyModel) -> None:
    script = (
        "import sys, numpy as np\n"
        "from models.artifact import ModelStore\n"
        "from models.loading import load_detector\n"
        f"d = load_detector(ModelStore({str(tiny_model.store.root)!r}), 'tiny')\n"
        "d.detect(np.zeros((10, 3)))\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(leaked)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_progress_is_reported_after_each_chunk(tiny_model: TinyModel) -> None:
    engine = load_detector(tiny_model.store, "tiny").engine
    engine.workers = 1  # every chunk in the calling thread: one report per chunk
    chunk = engine.chunk_windows
    windows = np.zeros((3 * chunk + 5, 4, 3), np.float32)
    calls: list[tuple[int, int]] = []
    engine.reconstruct(windows, progress=lambda done, total: calls.append((done, total)))
    total = len(windows)
    assert calls == [(chunk, total), (2 * chunk, total), (3 * chunk, total), (total, total)]


def test_progress_with_helper_threads_rises_to_the_total_in_the_calling_thread(
    tiny_model: TinyModel,
) -> None:
    engine = load_detector(tiny_model.store, "tiny").engine
    engine.workers = 3
    windows = np.zeros((20 * engine.chunk_windows + 5, 4, 3), np.float32)
    calls: list[tuple[int, int, str]] = []

    def hear(done: int, total: int) -> None:
        calls.append((done, total, threading.current_thread().name))

    engine.reconstruct(windows, progress=hear)
    total = len(windows)
    dones = [done for done, _, _ in calls]
    assert dones == sorted(set(dones)), "reports only ever rise"
    assert dones[-1] == total
    assert all(t == total for _, t, _ in calls)
    assert {name for _, _, name in calls} == {threading.current_thread().name}


def test_a_failing_chunk_fails_the_call_and_stops_the_others(tiny_model: TinyModel) -> None:
    engine = load_detector(tiny_model.store, "tiny").engine
    engine.workers = 2
    windows = np.zeros((40 * engine.chunk_windows, 4, 3), np.float32)
    seen: list[int] = []

    def fail_on_the_third(chunk: np.ndarray, reconstructed: np.ndarray) -> None:
        seen.append(len(chunk))
        if len(seen) == 3:
            raise ValueError("chunk fault")

    with pytest.raises(ValueError, match="chunk fault"):
        engine.map_chunks(windows, fail_on_the_third)
    assert len(seen) < 40  # the queue stopped; at most the chunks already taken finished


@pytest.mark.parametrize("engine", ["onnx", "tensorflow"])
def test_chunks_spread_over_threads_give_the_one_call_answer(tiny_model, engine) -> None:
    detector = load_detector(tiny_model.store, "tiny", engine=engine)
    windows = np.random.default_rng(1).normal(size=(2 * 8192 + 7, 4, 3)).astype(np.float32)
    whole = detector.engine._run(windows)  # one call of the network on every window
    np.testing.assert_allclose(detector.engine.reconstruct(windows), whole, rtol=1e-5, atol=1e-6)


def test_map_chunks_prepares_each_chunk_and_keeps_the_order(tiny_model: TinyModel) -> None:
    engine = load_detector(tiny_model.store, "tiny").engine
    windows = np.arange(5 * engine.chunk_windows * 12, dtype=np.float64).reshape(-1, 4, 3)
    firsts = engine.map_chunks(
        windows,
        lambda chunk, reconstructed: (chunk[0, 0, 0], reconstructed.shape),
        prepare=lambda chunk: -chunk,
    )
    step = engine.chunk_windows * 12
    assert [first for first, _ in firsts] == [-float(k * step) for k in range(5)]
    assert {shape for _, shape in firsts} == {(engine.chunk_windows, 4, 3)}


def test_no_windows_give_an_empty_reconstruction(tiny_model: TinyModel) -> None:
    engine = load_detector(tiny_model.store, "tiny").engine
    assert engine.reconstruct(np.zeros((0, 4, 3), np.float32)).shape == (0, 4, 3)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1), ("garbled", None)],
)
def test_a_cgroup_cpu_quota_caps_the_chunk_threads(tmp_path, cpu_max, expected) -> None:
    quota_file = tmp_path / "cpu.max"
    quota_file.write_text(cpu_max + "\n")
    affinity = len(os.sched_getaffinity(0))
    assert available_cores(quota_file) == min(affinity, expected or affinity)
    assert available_cores(tmp_path / "missing") == affinity
