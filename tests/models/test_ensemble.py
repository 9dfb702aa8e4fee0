"""Issue 17's ensembles: several LSTM autoencoders side by side in one network, each member's
errors divided by its median on normal validation windows and averaged, stored in one artifact
and served by one ONNX Runtime session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.artifact import SPEC_FILE, ModelStore
from models.data import select
from models.describe import describe
from models.detector import Detector
from models.ensemble import member_medians, member_squares, network_squares
from models.errors import ArtifactError
from models.loading import load_detector
from models.scoring import ScoreOn, squared_errors
from models.spec import DetectorSpec, NetworkConfig
from models.training import TrainedModel, store_trained, train_detector
from models.windows import temporalize
from tests.conftest import TINY_OPTIONS, tiny_frame
from tests.models.test_artifact import _rewrite, assert_one_line_reason
from tests.models.test_pca_member import faulty_values  # the same faulty rows at row 80

MEMBERS = 3
QUICK = TINY_OPTIONS.changed(epochs=3)
ENSEMBLE = QUICK.changed(network=TINY_OPTIONS.network.model_copy(update={"members": MEMBERS}))


@pytest.fixture(scope="module")
def data() -> Any:
    return select(tiny_frame(300), time_column="time", label_column="y")


@pytest.fixture(scope="module")
def ensemble(data: Any) -> TrainedModel:
    return train_detector(data, ENSEMBLE)


@pytest.fixture(scope="module")
def single(data: Any) -> TrainedModel:
    """The same options with one autoencoder."""
    return train_detector(data, QUICK)


@pytest.fixture(scope="module")
def ensemble_store(tmp_path_factory: pytest.TempPathFactory, ensemble: TrainedModel) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("ensemble"))
    store_trained(store, "tiny", ensemble)
    return store


def test_each_members_squares_are_its_reconstruction_against_the_same_window() -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(5, 4, 3)).astype(np.float32)
    members = [rng.normal(size=(5, 4, 3)).astype(np.float32) for _ in range(2)]
    side_by_side = np.concatenate(members, axis=2)  # the network's output layout
    squares = member_squares(windows, side_by_side)
    assert squares.shape == (5, 2, 3)
    for j, reconstructed in enumerate(members):
        np.testing.assert_allclose(squares[:, j], squared_errors(windows, reconstructed))
        np.testing.assert_allclose(
            member_squares(windows, side_by_side, ScoreOn.LAST_STEP)[:, j],
            squared_errors(windows, reconstructed, ScoreOn.LAST_STEP),
        )


def test_members_count_alike_whatever_the_scale_of_their_errors() -> None:
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(200, 4, 3)).astype(np.float32)
    # the second member's errors are 10 times the first's: divided by its median, it weighs
    # the same
    noise = rng.normal(size=(200, 4, 3)).astype(np.float32)
    side_by_side = np.concatenate([windows + noise, windows + 10 * noise], axis=2)
    squares = member_squares(windows, side_by_side)
    medians = member_medians(squares, lookback=4, score_on=ScoreOn.WINDOW)
    np.testing.assert_allclose(medians[1] / medians[0], 100.0, rtol=1e-4)
    averaged = network_squares(windows, side_by_side, ScoreOn.WINDOW, medians)
    np.testing.assert_allclose(averaged, squares[:, 0] / medians[0], rtol=1e-4)
    # the median window scores about 1: a multiple of a typical normal window's error
    assert np.median(averaged.sum(axis=1) / 12) == pytest.approx(1.0, rel=1e-6)
    # without medians, the network is one autoencoder: its plain squares
    np.testing.assert_array_equal(
        network_squares(windows, windows + noise, ScoreOn.WINDOW, None),
        squared_errors(windows, windows + noise),
    )


def test_an_ensemble_is_one_artifact_scored_alike_by_every_path(
    ensemble: TrainedModel, ensemble_store: ModelStore, single: TrainedModel
) -> None:
    spec = ensemble.spec
    assert spec.network.members == MEMBERS
    assert spec.member_medians is not None
    assert len(spec.member_medians) == MEMBERS
    assert all(m > 0 for m in spec.member_medians)
    names = [row.name for row in spec.layers]
    for member in range(1, MEMBERS + 1):
        assert f"member_{member}_encoder_1" in names
        assert f"member_{member}_reconstruction" in names
    assert names[-1] == "members"
    # one autoencoder's parameters per member
    params = sum(row.params for row in single.spec.layers)
    assert sum(row.params for row in spec.layers) == MEMBERS * params
    # the members start from their own initial weights: their reconstructions differ
    assert len(set(spec.member_medians)) == MEMBERS

    assert ensemble.onnx is not None
    stored = load_detector(ensemble_store, "tiny", engine="onnx")
    assert stored.spec == spec
    assert stored.row_scorer is not None, "an ensemble keeps the fused path"
    values = faulty_values()
    onnx = stored.detect(values)
    in_memory = Detector.from_trained(ensemble, "tiny").detect(values)
    np.testing.assert_array_equal(onnx.scores, in_memory.scores)
    plain = Detector("tiny", 1, stored.spec, stored.engine).detect(values)
    np.testing.assert_allclose(onnx.scores, plain.scores, rtol=1e-6)
    np.testing.assert_allclose(onnx.contributions, plain.contributions, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(onnx.is_anomaly, plain.is_anomaly)
    tensorflow = load_detector(ensemble_store, "tiny", engine="tensorflow").detect(values)
    np.testing.assert_allclose(tensorflow.scores, onnx.scores, rtol=1e-5)
    np.testing.assert_array_equal(tensorflow.is_anomaly, onnx.is_anomaly)
    last = stored.detect_last(values)
    np.testing.assert_allclose(last.scores, onnx.scores[-1:], rtol=1e-6)
    np.testing.assert_array_equal(last.is_anomaly, onnx.is_anomaly[-1:])
    # the fault stands out of the ensemble's scores as out of one network's
    fault = slice(80 - spec.lookback + 1, 86)
    assert onnx.scores[fault].max() > spec.threshold.value


def test_a_score_is_the_mean_of_the_members_errors_each_over_its_median(
    ensemble_store: ModelStore,
) -> None:
    detector = load_detector(ensemble_store, "tiny", engine="onnx")
    spec = detector.spec
    assert spec.member_medians is not None
    values = faulty_values()
    windows = temporalize(detector.scaler.transform(values), spec.lookback).astype(np.float32)
    reconstructed = detector.engine.reconstruct(windows)
    n_features = spec.n_features
    assert reconstructed.shape == (len(windows), spec.lookback, MEMBERS * n_features)
    by_hand = np.zeros((len(windows), n_features))
    for j, median in enumerate(spec.member_medians):
        own = reconstructed[:, :, j * n_features : (j + 1) * n_features]
        by_hand += ((own - windows).astype(np.float64) ** 2).sum(axis=1) / median / MEMBERS
    expected = by_hand.sum(axis=1) / (spec.lookback * n_features)
    np.testing.assert_allclose(detector.detect(values).scores, expected, rtol=1e-5)


def test_an_ensemble_with_the_pca_member_and_the_last_step_scores_alike_on_every_path(
    tmp_path: Path, data: Any
) -> None:
    options = ENSEMBLE.changed(network=NetworkConfig(units=(8, 4), members=2))
    options = options.changed(pca_member=True, score_on="last_step", smoothing=2)
    store = ModelStore(tmp_path)
    store_trained(store, "tiny", train_detector(data, options))
    onnx = load_detector(store, "tiny", engine="onnx")
    assert onnx.spec.pca_member is not None
    assert onnx.spec.member_medians is not None
    assert onnx.row_scorer is not None
    values = faulty_values()
    a = onnx.detect(values)
    plain = Detector("tiny", 1, onnx.spec, onnx.engine).detect(values)
    np.testing.assert_allclose(a.scores, plain.scores, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a.contributions, plain.contributions, rtol=1e-6, atol=1e-12)
    b = load_detector(store, "tiny", engine="tensorflow").detect(values)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    np.testing.assert_allclose(a.contributions, b.contributions, rtol=1e-4, atol=1e-9)


def test_model_info_names_the_members(ensemble_store: ModelStore) -> None:
    spec = ensemble_store.open("tiny").spec
    assert spec.member_medians is not None
    text = describe("tiny", 1, spec)
    medians = ", ".join(f"{m:.4g}" for m in spec.member_medians)
    assert "members: 3 autoencoders side by side, each error divided by its median on " in text
    assert f"({medians}), averaged" in text


BAD_MEDIANS = {
    # id: (change to the stored spec, what the reason says)
    "one missing": (lambda s: s["member_medians"].pop(), "one median per member (3)"),
    "none at all": (lambda s: s.pop("member_medians"), "one median per member (3)"),
    "zero": (lambda s: s["member_medians"].__setitem__(0, 0.0), "member_medians.0"),
    "negative": (lambda s: s["member_medians"].__setitem__(2, -1.0), "member_medians.2"),
    "NaN": (lambda s: s["member_medians"].__setitem__(1, float("nan")), "member_medians.1"),
    "one member": (
        lambda s: s["network"].update(members=1),
        "member_medians belongs to a network of several members",
    ),
    "too many members": (lambda s: s["network"].update(members=9), "network.members"),
}


@pytest.mark.parametrize(("change", "reason"), BAD_MEDIANS.values(), ids=BAD_MEDIANS.keys())
def test_bad_member_medians_are_refused_on_load_naming_the_problem(
    tmp_path: Path, ensemble: TrainedModel, change: Any, reason: str
) -> None:
    store = ModelStore(tmp_path)
    _, folder = store_trained(store, "tiny", ensemble)
    spec = json.loads((folder / SPEC_FILE).read_text())
    change(spec)
    _rewrite(folder, SPEC_FILE, json.dumps(spec).encode())
    with pytest.raises(ArtifactError, match=r"detector\.json is invalid") as refused:
        load_detector(store, "tiny")
    assert reason in refused.value.detail
    assert_one_line_reason(refused.value)


def test_weights_of_one_autoencoder_under_a_spec_of_several_are_refused(
    tmp_path: Path, ensemble: TrainedModel, single: TrainedModel
) -> None:
    store = ModelStore(tmp_path)
    _, folder = store_trained(store, "tiny", ensemble)
    _, single_folder = store_trained(ModelStore(tmp_path / "single"), "tiny", single)
    for file in ("weights.npz", "model.onnx"):
        _rewrite(folder, file, (single_folder / file).read_bytes())
    with pytest.raises(ArtifactError) as refused:
        load_detector(store, "tiny", engine="onnx")
    assert_one_line_reason(refused.value)
    with pytest.raises(ArtifactError) as refused:
        load_detector(store, "tiny", engine="tensorflow")
    assert_one_line_reason(refused.value)


def test_a_detector_json_from_before_ensembles_loads_as_one_autoencoder(
    single: TrainedModel,
) -> None:
    old = single.spec.model_dump(mode="json")
    old.pop("member_medians")
    old["network"].pop("members")
    old["options"]["network"].pop("members")
    loaded = DetectorSpec.model_validate(old)
    assert loaded.network.members == 1
    assert loaded.member_medians is None
    assert "members:" not in describe("old", 1, loaded)
