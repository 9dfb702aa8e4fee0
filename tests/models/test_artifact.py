import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models.artifact import (
    MANIFEST_FILE,
    ONNX_FILE,
    SPEC_FILE,
    WEIGHTS_FILE,
    ModelStore,
    sha256_of,
)
from models.errors import ArtifactError, InvalidInput, ModelNotFound
from models.loading import load_detector
from tests.artifact_faults import PYTHON_INTERNALS, damaged, write_damaged
from tests.conftest import TinyModel


@pytest.fixture
def copied_store(tiny_model: TinyModel, tmp_path: Path) -> ModelStore:
    """A private copy of the tiny model's store, free to damage."""
    shutil.copytree(tiny_model.store.root, tmp_path / "store")
    return ModelStore(tmp_path / "store")


def test_a_reloaded_model_gives_the_same_scores(
    tiny_model: TinyModel, copied_store: ModelStore
) -> None:
    values = tiny_model.frame[["a", "b", "c"]].to_numpy()
    original = load_detector(tiny_model.store, "tiny").detect(values)
    stored = copied_store.open("tiny")
    new_version, _ = copied_store.write("tiny", stored.spec, stored.weights(), stored.onnx())
    assert (stored.version, new_version) == (1, 2)
    reloaded = load_detector(copied_store, "tiny", new_version).detect(values)
    np.testing.assert_array_equal(original.scores, reloaded.scores)


def test_the_newest_version_is_the_default(copied_store: ModelStore) -> None:
    _, spec, weights = copied_store.read("tiny")
    copied_store.write("tiny", spec, weights)
    assert copied_store.resolve("tiny")[0] == 2
    assert copied_store.resolve("tiny", 1)[0] == 1


def test_the_artifact_holds_json_weights_and_a_manifest_of_both(copied_store: ModelStore) -> None:
    folder = copied_store.root / "tiny" / "1"
    assert sorted(p.name for p in folder.iterdir()) == [
        SPEC_FILE,
        MANIFEST_FILE,
        ONNX_FILE,
        WEIGHTS_FILE,
    ]
    spec = json.loads((folder / SPEC_FILE).read_text())
    assert spec["features"] == ["a", "b", "c"]
    assert set(spec["library_versions"]) >= {"keras", "numpy"}
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {SPEC_FILE, WEIGHTS_FILE, ONNX_FILE}


@pytest.mark.parametrize("damaged", [SPEC_FILE, WEIGHTS_FILE, ONNX_FILE])
def test_a_tampered_file_is_refused_naming_it(copied_store: ModelStore, damaged: str) -> None:
    path = copied_store.root / "tiny" / "1" / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=f"{damaged} does not match its SHA-256"):
        load_detector(copied_store, "tiny")


def test_an_invalid_scaler_is_refused_even_when_the_manifest_matches(
    copied_store: ModelStore,
) -> None:
    folder = copied_store.root / "tiny" / "1"
    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["scaler"]["scale"][0] = -1.0
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"][SPEC_FILE] = sha256_of(folder / SPEC_FILE)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"detector\.json is invalid"):
        copied_store.read("tiny")


@pytest.mark.parametrize("missing", [SPEC_FILE, WEIGHTS_FILE, MANIFEST_FILE])
def test_a_missing_file_is_refused(copied_store: ModelStore, missing: str) -> None:
    (copied_store.root / "tiny" / "1" / missing).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        copied_store.read("tiny")


def test_a_truncated_weights_file_is_refused(copied_store: ModelStore) -> None:
    path = copied_store.root / "tiny" / "1" / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError):
        load_detector(copied_store, "tiny")


def test_unknown_models_and_versions_are_not_found(copied_store: ModelStore) -> None:
    with pytest.raises(ModelNotFound, match="no model named 'other'"):
        copied_store.resolve("other")
    with pytest.raises(ModelNotFound, match="no version 7"):
        copied_store.resolve("tiny", 7)


@pytest.mark.parametrize("name", ["../escape", "", ".hidden", "a/b", "x" * 65])
def test_names_that_could_escape_the_store_are_refused(copied_store: ModelStore, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid model name"):
        copied_store.versions(name)


def test_a_failed_write_leaves_no_version_and_no_temporary_folder(
    copied_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, spec, weights = copied_store.read("tiny")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        copied_store.write("tiny", spec, weights)
    assert copied_store.versions("tiny") == [1]
    assert sorted(p.name for p in (copied_store.root / "tiny").iterdir()) == ["1"]


def test_a_writer_racing_for_the_same_version_takes_the_next_one(
    copied_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, spec, weights = copied_store.read("tiny")
    taken = copied_store.root / "tiny" / "2"
    shutil.copytree(copied_store.root / "tiny" / "1", taken)  # another writer got there first
    monkeypatch.setattr(ModelStore, "versions", lambda self, name: [1])  # our look was stale
    version, path = copied_store.write("tiny", spec, weights)
    assert version == 3
    assert path.name == "3"


@pytest.mark.parametrize("name", ["detector.json", "manifest.json", "../x.png", ".hidden"])
def test_extra_files_cannot_replace_or_escape_the_artifact(
    copied_store: ModelStore, name: str
) -> None:
    _, spec, weights = copied_store.read("tiny")
    with pytest.raises(InvalidInput, match="cannot be stored"):
        copied_store.write("tiny", spec, weights, extra_files={name: b"x"})
    assert copied_store.versions("tiny") == [1]


def test_a_tampered_extra_file_refuses_the_model(copied_store: ModelStore) -> None:
    stored = copied_store.open("tiny")
    version, path = copied_store.write(
        "tiny", stored.spec, stored.weights(), stored.onnx(), extra_files={"report.png": b"png"}
    )
    (path / "report.png").write_bytes(b"changed")
    with pytest.raises(ArtifactError, match=r"report\.png does not match"):
        copied_store.open("tiny", version)


def _rewrite(folder: Path, file: str, data: bytes) -> None:
    """Replace a file of the version and give the manifest its new SHA-256, as a careless (or
    hostile) hand would: the manifest passes, the content is what is checked."""
    (folder / file).write_bytes(data)
    if file != MANIFEST_FILE:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        manifest["files"][file] = sha256_of(folder / file)
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def assert_one_line_reason(error: ArtifactError, version: int = 1) -> None:
    assert error.detail.startswith(f"model 'tiny' version {version}: ")
    assert "\n" not in error.detail
    assert not PYTHON_INTERNALS.search(error.detail), error.detail


@pytest.mark.parametrize(
    "files",
    ["detector.json weights.npz", ["detector.json", "weights.npz"], 5, None, {"weights.npz": 1}],
)
def test_a_manifest_whose_files_are_not_a_map_of_hashes_is_refused(
    copied_store: ModelStore, files: object
) -> None:
    folder = copied_store.root / "tiny" / "1"
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] = files
    _rewrite(folder, MANIFEST_FILE, json.dumps(manifest).encode())
    with pytest.raises(ArtifactError, match=r"manifest\.json is invalid at files") as refused:
        copied_store.open("tiny")
    assert_one_line_reason(refused.value)


MANIFEST_DEFECTS = {
    "not JSON": b"{",
    "not UTF-8": b'{"files": "\xff"}',
    "empty": b"",
    "a list": b"[]",
    "nested too deep": b"[" * 5000,
    "extra key": b'{"algorithm": "sha256", "files": {}, "signed": true}',
    "other algorithm": b'{"algorithm": "md5", "files": {}}',
    "a path as a file name": b'{"files": {"../detector.json": "' + b"0" * 64 + b'"}}',
    "a hash that is not hex": b'{"files": {"detector.json": "not a hash"}}',
}


@pytest.mark.parametrize("data", MANIFEST_DEFECTS.values(), ids=MANIFEST_DEFECTS.keys())
def test_every_kind_of_broken_manifest_is_an_artifact_error(
    copied_store: ModelStore, data: bytes
) -> None:
    _rewrite(copied_store.root / "tiny" / "1", MANIFEST_FILE, data)
    with pytest.raises(ArtifactError, match=r"manifest\.json is invalid at ") as refused:
        copied_store.open("tiny")
    assert_one_line_reason(refused.value)


SPEC_DEFECTS = {
    # id: (change to the parsed detector.json, where the reason points)
    "lookback a word": (lambda s: s.update(lookback="four"), "lookback"),
    "lookback huge": (lambda s: s.update(lookback=10**30), "lookback"),
    "alarm_after huge": (lambda s: s.update(alarm_after=2**64), "alarm_after"),
    "params past 64 bits": (lambda s: s["layers"][0].update(params=2**64), "layers.0.params"),
    "a count past 64 bits": (lambda s: s["training"].update(rows=10**30), "training.rows"),
    "seconds infinite": (lambda s: s["training"].update(seconds=float("inf")), "training"),
    "quantile NaN": (lambda s: s["threshold"].update(quantile=float("nan")), "threshold"),
    "a missing key": (lambda s: s.pop("scaler"), "scaler"),
    "an extra key": (lambda s: s.update(code="import os"), "code"),
    "scaler not a map": (lambda s: s.update(scaler=[1, 2]), "scaler"),
}


@pytest.mark.parametrize(("change", "where"), SPEC_DEFECTS.values(), ids=SPEC_DEFECTS.keys())
def test_every_kind_of_broken_detector_json_is_an_artifact_error(
    copied_store: ModelStore, change: Callable[[dict[str, Any]], object], where: str
) -> None:
    folder = copied_store.root / "tiny" / "1"
    spec = json.loads((folder / SPEC_FILE).read_text())
    change(spec)
    _rewrite(folder, SPEC_FILE, json.dumps(spec).encode())
    with pytest.raises(ArtifactError, match=rf"detector\.json is invalid at {where}") as refused:
        copied_store.open("tiny")
    assert_one_line_reason(refused.value)


def test_a_lookback_the_onnx_graph_does_not_take_is_refused(copied_store: ModelStore) -> None:
    folder = copied_store.root / "tiny" / "1"
    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["lookback"] += 1
    _rewrite(folder, SPEC_FILE, json.dumps(spec).encode())
    copied_store.open("tiny")  # a valid description on its own
    with pytest.raises(ArtifactError, match=r"model\.onnx takes windows of any x 4 x 3") as refused:
        load_detector(copied_store, "tiny")
    assert_one_line_reason(refused.value)


def test_a_graph_onnx_runtime_cannot_load_is_refused(copied_store: ModelStore) -> None:
    _rewrite(copied_store.root / "tiny" / "1", ONNX_FILE, b"not a graph")
    with pytest.raises(ArtifactError, match="cannot be loaded by ONNX Runtime") as refused:
        load_detector(copied_store, "tiny")
    assert_one_line_reason(refused.value)


def test_a_network_whose_reconstruction_is_not_finite_is_refused(copied_store: ModelStore) -> None:
    import onnx
    from onnx import numpy_helper

    folder = copied_store.root / "tiny" / "1"
    network = onnx.load_from_string((folder / ONNX_FILE).read_bytes())
    biases = [  # float vectors; the last one is the output layer's: a NaN reaches every output
        i
        for i in network.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 1
    ]
    dense_bias = biases[-1]
    nan = np.full_like(numpy_helper.to_array(dense_bias), np.nan)
    dense_bias.CopyFrom(numpy_helper.from_array(nan, dense_bias.name))
    _rewrite(folder, ONNX_FILE, network.SerializeToString())
    with pytest.raises(ArtifactError, match="reconstruction of a window of zeros is not finite"):
        load_detector(copied_store, "tiny")


def _saved(save: Callable[..., None], path: Path, *arrays: np.ndarray) -> bytes:
    save(path, *arrays)
    return path.read_bytes()


WEIGHT_DEFECTS: dict[str, Callable[[Path, list[np.ndarray]], bytes]] = {
    "a broken zip": lambda _, __: b"PK\x03\x04 not a zip",
    "empty": lambda _, __: b"",
    "a cut .npy header": lambda _, __: b"\x93NUMPY",
    "one array": lambda at, arrays: _saved(np.save, at / "w.npy", arrays[0]),
    "text arrays": lambda at, arrays: _saved(
        np.savez, at / "w.npz", *(a.astype(str) for a in arrays)
    ),
    "wrong shapes": lambda at, arrays: _saved(np.savez, at / "w.npz", *arrays[::-1]),
}


@pytest.mark.parametrize("defect", WEIGHT_DEFECTS.values(), ids=WEIGHT_DEFECTS.keys())
def test_weights_that_do_not_fit_the_network_are_refused(
    copied_store: ModelStore, tmp_path: Path, defect: Callable[[Path, list[np.ndarray]], bytes]
) -> None:
    weights = defect(tmp_path, copied_store.open("tiny").weights())
    _rewrite(copied_store.root / "tiny" / "1", WEIGHTS_FILE, weights)
    with pytest.raises(ArtifactError, match=r"weights\.npz|weight shapes") as refused:
        load_detector(copied_store, "tiny", engine="tensorflow")
    assert_one_line_reason(refused.value)


@given(data=st.data(), file=st.sampled_from([MANIFEST_FILE, SPEC_FILE]))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_damaged_json_file_only_ever_raises_artifact_error(
    copied_store: ModelStore, data: st.DataObject, file: str
) -> None:
    damage = data.draw(damaged(copied_store.root / "tiny" / "1", file))
    version = write_damaged(copied_store, "tiny", 1, damage)
    try:
        copied_store.open("tiny", version)
        load_detector(copied_store, "tiny", version)
    except ArtifactError as refused:
        assert_one_line_reason(refused, version)
        event(f"{file}: refused")
    else:
        event(f"{file}: loaded, the damage harmless")  # a key with a default removed, say
