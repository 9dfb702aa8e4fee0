import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.artifact import MANIFEST_FILE, ONNX_FILE, SPEC_FILE, WEIGHTS_FILE, ModelStore
from models.errors import ArtifactError, InvalidInput, ModelNotFound
from models.loading import load_detector
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
    from models.artifact import sha256_of

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
