"""A damaged stored version, whatever its defect, is refused as the artifact's fault through a real
server: 503 model_unavailable for it, 409 reload_failed with the old version kept, never a 500,
and no answer shows a Python exception or a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.settings import Settings
from models.artifact import MANIFEST_FILE, SPEC_FILE, ModelStore
from tests.app.api.test_bad_input import JSON_TYPE, assert_problem, body, rows
from tests.app.conftest import Server, running
from tests.app.faults import copy_model
from tests.artifact_faults import PYTHON_INTERNALS, Damage, damaged, write_damaged
from tests.conftest import TinyModel

ADMIN = {"X-API-Key": "admin-key-for-tests"}
GOOD_VERSION = 1


@pytest.fixture(scope="module")
def store(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("fuzzed"))
    copy_model(tiny_model.store, store, "tiny")
    return store


@pytest.fixture(scope="module")
def server(store: ModelStore) -> Iterator[Server]:
    with running(Settings(model_dir=store.root, admin_key=ADMIN["X-API-Key"])) as started:
        yield started


def answers_for(http: httpx.Client, version: int) -> dict[str, httpx.Response]:
    """What a client sees of a stored version: its description, a detection, then a reload (the
    newest version is this one) and the model list after it."""
    answers = {
        "describe": http.get(f"/v1/models/tiny?version={version}"),
        "detect": http.post(
            f"/v1/models/tiny/detect?version={version}",
            content=body(values=rows()),
            headers={"content-type": JSON_TYPE},
        ),
        "reload": http.post("/v1/models/tiny/reload", headers=ADMIN),
    }
    answers["models"] = http.get("/v1/models")
    answers["ready"] = http.get("/readyz")
    return answers


def assert_refused_as_the_artifacts_fault(answers: dict[str, httpx.Response], what: str) -> None:
    for route, response in answers.items():
        assert response.status_code != 500, f"{what}: {route} answered {response.text}"
        if not response.is_success:
            assert not PYTHON_INTERNALS.search(response.text), f"{what}: {route}: {response.text}"
    for route in ("describe", "detect"):
        if not answers[route].is_success and answers[route].status_code != 422:
            assert_problem(answers[route], 503, "model_unavailable")
    for model in answers["ready"].json()["unavailable"]:
        assert not PYTHON_INTERNALS.search(model["reason"]), f"{what}: {model['reason']}"


def test_a_manifest_whose_files_are_text_is_refused_and_the_old_version_kept(
    server: Server, store: ModelStore
) -> None:
    manifest = json.loads((store.root / "tiny" / str(GOOD_VERSION) / MANIFEST_FILE).read_text())
    manifest["files"] = ", ".join(manifest["files"])  # names every file, but not as a map
    damage = Damage(MANIFEST_FILE, "files as text", json.dumps(manifest).encode())
    version = write_damaged(store, "tiny", GOOD_VERSION, damage)
    served = httpx.get(server.url + "/v1/models").json()["models"][0]["version"]

    with httpx.Client(base_url=server.url, timeout=60) as http:
        answers = answers_for(http, version)

    assert_refused_as_the_artifacts_fault(answers, damage.what)
    assert_problem(answers["describe"], 503, "model_unavailable")
    assert_problem(answers["detect"], 503, "model_unavailable")
    reload_failed = assert_problem(answers["reload"], 409, "reload_failed")
    assert f"version {version} was not loaded" in reload_failed["detail"]
    assert "manifest.json is invalid at files" in reload_failed["detail"]
    assert f"version {served} is still served" in reload_failed["detail"]
    assert answers["models"].json()["models"][0]["version"] == served


@given(data=st.data(), file=st.sampled_from([MANIFEST_FILE, SPEC_FILE]))
@settings(max_examples=20)
def test_no_damage_to_a_stored_version_gives_a_500_or_a_traceback(
    server: Server, store: ModelStore, data: st.DataObject, file: str
) -> None:
    damage = data.draw(damaged(store.root / "tiny" / str(GOOD_VERSION), file))
    version = write_damaged(store, "tiny", GOOD_VERSION, damage)
    served = httpx.get(server.url + "/v1/models").json()["models"][0]["version"]

    with httpx.Client(base_url=server.url, timeout=60) as http:
        answers = answers_for(http, version)

    assert_refused_as_the_artifacts_fault(answers, damage.what)
    listed = answers["models"].json()["models"][0]["version"]
    if answers["reload"].is_success:  # a harmless change: the version is served
        assert listed == version
    else:
        assert_problem(answers["reload"], 409, "reload_failed")
        assert listed == served


def test_the_fuzzed_versions_left_the_good_ones_serving(server: Server, store: ModelStore) -> None:
    """After all that, a good version written and reloaded is served as usual."""
    good = store.open("tiny", GOOD_VERSION)
    version, _ = store.write("tiny", good.spec, good.weights(), good.onnx())
    response = httpx.post(server.url + "/v1/models/tiny/reload", headers=ADMIN, timeout=60)
    assert response.json()["version"] == version
    detected = httpx.post(
        server.url + "/v1/models/tiny/detect",
        content=body(values=rows()),
        headers={"content-type": JSON_TYPE},
        timeout=60,
    )
    assert detected.status_code == 200
