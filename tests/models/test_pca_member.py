"""Issue 17's linear reconstruction member: a PCA of the normal training windows whose squared
errors are averaged with the network's, stored in detector.json and served by both paths."""

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
from models.errors import ArtifactError
from models.loading import load_detector
from models.pca_member import VARIANCE_KEPT, PcaBasis, fit_pca
from models.scoring import ScoreOn
from models.spec import DetectorSpec
from models.training import TrainedModel, store_trained, train_detector
from models.windows import temporalize
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, tiny_frame, with_fault
from tests.models.test_artifact import _rewrite, assert_one_line_reason

QUICK = TINY_OPTIONS.changed(epochs=3)


@pytest.fixture(scope="module")
def data() -> Any:
    return select(tiny_frame(300), time_column="time", label_column="y")


@pytest.fixture(scope="module")
def with_member(data: Any) -> TrainedModel:
    return train_detector(data, QUICK.changed(pca_member=True))


@pytest.fixture(scope="module")
def member_store(tmp_path_factory: pytest.TempPathFactory, with_member: TrainedModel) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("pca"))
    store_trained(store, "tiny", with_member)
    return store


def faulty_values() -> np.ndarray:
    return with_fault(tiny_frame(160, seed=5), 80)[TINY_FEATURES].to_numpy()


def test_the_pca_keeps_the_fewest_components_that_explain_the_variance() -> None:
    rng = np.random.default_rng(0)
    # windows of 2 x 3 values spread along three orthogonal directions, by 10, 5 and 1
    directions = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :3].T
    coordinates = rng.normal(size=(5000, 3)) * np.array([10.0, 5.0, 1.0])
    windows = (coordinates @ directions + 2.0).reshape(-1, 2, 3)
    basis = fit_pca(windows)
    variances = np.var(coordinates, axis=0)
    explained = np.cumsum(variances) / variances.sum()
    assert explained[0] < VARIANCE_KEPT <= explained[1]
    assert basis.components.shape == (2, 6)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(basis.mean, windows.reshape(-1, 6).mean(axis=0))
    # the two leading directions span the same plane as the fitted components
    np.testing.assert_allclose(
        np.linalg.svd(basis.components @ directions[:2].T, compute_uv=False), 1.0, atol=1e-3
    )


def test_the_pca_squares_are_the_distance_off_the_components_per_feature() -> None:
    rng = np.random.default_rng(1)
    components = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :2].T  # (2, 6)
    basis = PcaBasis(rng.normal(size=6), components)
    inside = (basis.mean + rng.normal(size=(4, 2)) @ components).reshape(4, 2, 3)
    np.testing.assert_allclose(basis.squares(inside), 0.0, atol=1e-10)
    # a deviation orthogonal to the components is all error: its squares, per feature
    off = np.linalg.qr(np.c_[components.T, rng.normal(size=(6, 1))])[0][:, 2] * 0.5
    moved = inside + off.reshape(2, 3).astype(np.float32)
    expected = (moved.reshape(4, 6).astype(np.float32) - inside.reshape(4, 6)).reshape(4, 2, 3)
    np.testing.assert_allclose(basis.squares(moved), (expected**2).sum(axis=1), rtol=1e-5)
    # the last step's squares alone
    np.testing.assert_allclose(
        basis.squares(moved, ScoreOn.LAST_STEP), expected[:, -1] ** 2, rtol=1e-5
    )


def test_a_model_trained_with_the_member_stores_it_and_scores_with_it(
    with_member: TrainedModel, member_store: ModelStore, data: Any
) -> None:
    spec = with_member.spec
    member = spec.pca_member
    assert member is not None
    assert spec.options is not None
    assert spec.options.pca_member
    n_values = spec.lookback * spec.n_features
    assert len(member.mean) == n_values
    assert 1 <= len(member.components) <= n_values
    assert all(len(component) == n_values for component in member.components)
    assert member.network_median > 0
    assert member.pca_median > 0
    # scores are multiples of a typical normal window's error: the median is about 1
    assert 0.5 < spec.validation_error_quantiles["0.5"] < 2.0

    stored = load_detector(member_store, "tiny", engine="onnx")
    assert stored.spec == spec
    assert stored.row_scorer is not None, "a model with the member keeps the fused path"
    values = faulty_values()
    fused = stored.detect(values)
    in_memory = Detector.from_trained(with_member, "tiny").detect(values)
    np.testing.assert_array_equal(fused.scores, in_memory.scores)
    plain = Detector("tiny", 1, stored.spec, stored.engine).detect(values)
    np.testing.assert_allclose(fused.scores, plain.scores, rtol=1e-6)
    np.testing.assert_allclose(fused.contributions, plain.contributions, rtol=1e-6, atol=1e-12)
    last = stored.detect_last(values)
    np.testing.assert_allclose(last.scores, fused.scores[-1:], rtol=1e-6)
    tensorflow = load_detector(member_store, "tiny", engine="tensorflow").detect(values)
    np.testing.assert_allclose(tensorflow.scores, fused.scores, rtol=1e-5)

    without = Detector.from_trained(train_detector(data, QUICK), "plain").detect(values)
    assert not np.allclose(without.scores, fused.scores)


def test_a_score_is_the_mean_of_both_members_errors_each_over_its_median(
    member_store: ModelStore,
) -> None:
    detector = load_detector(member_store, "tiny", engine="onnx")
    spec, member = detector.spec, detector.spec.pca_member
    assert member is not None
    values = faulty_values()
    windows = temporalize(detector.scaler.transform(values), spec.lookback).astype(np.float32)
    reconstructed = detector.engine.reconstruct(windows)
    network = ((reconstructed - windows).astype(np.float64) ** 2).sum(axis=1)
    flat = windows.reshape(len(windows), -1).astype(np.float64)
    mean, components = np.array(member.mean), np.array(member.components)
    by_hand = mean + ((flat - mean) @ components.T) @ components
    pca = ((by_hand - flat) ** 2).reshape(windows.shape).sum(axis=1)
    squares = 0.5 * (network / member.network_median + pca / member.pca_median)
    expected = squares.sum(axis=1) / (spec.lookback * spec.n_features)
    np.testing.assert_allclose(detector.detect(values).scores, expected, rtol=1e-5)
    # the fault's windows are far off the normal windows' components: the PCA part rises
    fault = slice(80 - spec.lookback + 1, 86)
    assert pca[fault].sum(axis=1).min() > 10 * np.median(pca.sum(axis=1))


def test_the_last_step_member_with_standardised_errors_scores_alike_on_both_paths(
    tmp_path: Path, data: Any
) -> None:
    options = QUICK.changed(
        pca_member=True, score_on="last_step", error_standardisation="mean_square", smoothing=2
    )
    store = ModelStore(tmp_path)
    store_trained(store, "tiny", train_detector(data, options))
    fused = load_detector(store, "tiny", engine="onnx")
    assert fused.row_scorer is not None
    values = faulty_values()
    a = fused.detect(values)
    b = Detector("tiny", 1, fused.spec, fused.engine).detect(values)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(a.is_anomaly, b.is_anomaly)


def test_a_model_with_transformed_windows_fits_the_member_on_them(data: Any) -> None:
    trained = train_detector(data, QUICK.changed(pca_member=True, window_transform="difference"))
    member = trained.spec.pca_member
    assert member is not None
    # differenced windows start with a row of zeros: the mean and components have none there
    np.testing.assert_allclose(member.mean[: len(TINY_FEATURES)], 0.0, atol=1e-12)
    components = np.array(member.components)
    np.testing.assert_allclose(components[:, : len(TINY_FEATURES)], 0.0, atol=1e-9)
    detector = Detector.from_trained(trained, "tiny")
    assert detector.row_scorer is None  # transformed windows: the plain path, as before
    assert np.isfinite(detector.detect(faulty_values()).scores).all()


def test_model_info_names_the_member(member_store: ModelStore) -> None:
    spec = member_store.open("tiny").spec
    assert spec.pca_member is not None
    n_components = len(spec.pca_member.components)
    noun = "component" if n_components == 1 else "components"
    text = describe("tiny", 1, spec)
    assert f"PCA member: {n_components} {noun} of 12, averaged with the network" in text


BAD_MEMBERS = {
    # id: (change to the stored member, what the reason says)
    "mean too short": (lambda m: m["mean"].pop(), "pca_member.mean needs lookback x features"),
    "a component too long": (
        lambda m: m["components"][0].append(0.0),
        "pca_member.components need 12 values each",
    ),
    "no component": (lambda m: m.update(components=[]), "pca_member.components needs 1 to 12"),
    "median 0": (lambda m: m.update(pca_median=0.0), "pca_member.pca_median"),
    "median negative": (lambda m: m.update(network_median=-1.0), "pca_member.network_median"),
    "mean NaN": (lambda m: m["mean"].__setitem__(0, float("nan")), "pca_member.mean.0"),
    "component infinite": (
        lambda m: m["components"][0].__setitem__(1, float("inf")),
        "pca_member.components.0.1",
    ),
}


@pytest.mark.parametrize(("change", "reason"), BAD_MEMBERS.values(), ids=BAD_MEMBERS.keys())
def test_a_bad_member_is_refused_on_load_naming_the_problem(
    tmp_path: Path, with_member: TrainedModel, change: Any, reason: str
) -> None:
    store = ModelStore(tmp_path)
    _, folder = store_trained(store, "tiny", with_member)
    spec = json.loads((folder / SPEC_FILE).read_text())
    change(spec["pca_member"])
    _rewrite(folder, SPEC_FILE, json.dumps(spec).encode())
    with pytest.raises(ArtifactError, match=r"detector\.json is invalid") as refused:
        load_detector(store, "tiny")
    assert reason in refused.value.detail
    assert_one_line_reason(refused.value)


def test_a_detector_json_without_the_member_loads_as_before(with_member: TrainedModel) -> None:
    old = with_member.spec.model_dump(mode="json")
    old.pop("pca_member")
    old["options"].pop("pca_member")
    loaded = DetectorSpec.model_validate(old)
    assert loaded.pca_member is None
    assert loaded.options is not None
    assert not loaded.options.pca_member
    assert "PCA member" not in describe("old", 1, loaded)
