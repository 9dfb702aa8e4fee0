"""Model lifecycle: a reload swaps in the newest version only once it is loaded, verified and
warmed up; a broken one leaves the old serving; reloads are serialized; a broken artifact at
start takes down only its own model, and says why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.api.registry import Registry
from app.settings import Settings
from models.artifact import ModelStore
from tests.app.api.test_bad_input import JSON_TYPE, assert_problem, body, rows
from tests.app.conftest import Server, running
from tests.app.faults import FAULTS, break_artifact, copy_model, wait_for
from tests.conftest import TinyModel

ADMIN_KEY = "admin-key-for-tests"
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def store(tiny_model: TinyModel, tmp_path: Path) -> ModelStore:
    """A model folder of its own holding the tiny model as version 1."""
    store = ModelStore(tmp_path)
    copy_model(tiny_model.store, store, "tiny")
    return store


@pytest.fixture
def server(store: ModelStore) -> Iterator[Server]:
    with running(Settings(model_dir=store.root, admin_key=ADMIN_KEY)) as started:
        yield started


@contextmanager
def steady_traffic(url: str) -> Iterator[list[tuple[int, int | None]]]:
    """Detection requests one after the other until the block ends: (status, model version)."""
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                response = http.post(
                    "/v1/models/tiny/detect/last",
                    content=body(values=rows()),
                    headers={"content-type": JSON_TYPE},
                )
                version = response.json()["model"]["version"] if response.is_success else None
                answers.append((response.status_code, version))

    thread = threading.Thread(target=send)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join()


def reload(url: str, name: str = "tiny") -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{name}/reload", headers=ADMIN, timeout=60)


def wait_for_answers(answers: list[tuple[int, int | None]], n: int) -> None:
    wait_for(lambda: len(answers) >= n)


def test_a_good_new_version_is_swapped_in_under_traffic_without_a_failed_request(
    server: Server, store: ModelStore, tiny_model: TinyModel
) -> None:
    with steady_traffic(server.url) as answers:
        wait_for_answers(answers, 20)
        assert copy_model(tiny_model.store, store, "tiny") == 2  # what `rarewatch train` does
        response = reload(server.url)
        seen = len(answers)
        wait_for_answers(answers, seen + 20)

    assert response.status_code == 200
    assert response.json() == {
        "name": "tiny",
        "version": 2,
        "previous_version": 1,
        "reloaded": True,
    }
    assert {status for status, _ in answers} == {200}
    versions = [version for _, version in answers]
    assert versions == sorted(versions)
    assert versions[0] == 1
    assert versions[-1] == 2
    assert httpx.get(server.url + "/readyz").json()["models"] == [{"name": "tiny", "version": 2}]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_broken_new_version_is_refused_and_the_old_one_keeps_answering(
    server: Server, store: ModelStore, tiny_model: TinyModel, fault: str
) -> None:
    copy_model(tiny_model.store, store, "tiny")
    break_artifact(store.root / "tiny" / "2", fault)
    with steady_traffic(server.url) as answers:
        wait_for_answers(answers, 10)
        response = reload(server.url)
        seen = len(answers)
        wait_for_answers(answers, seen + 10)

    problem = assert_problem(response, 409, "reload_failed")
    assert "version 2 was not loaded" in problem["detail"]
    assert "version 1 is still served" in problem["detail"]
    assert str(store.root) not in problem["detail"]
    assert set(answers) == {(200, 1)}
    listing = httpx.get(server.url + "/v1/models").json()
    assert listing["models"][0]["version"] == 1
    assert listing["unavailable"] == []


def test_reloads_at_the_same_time_run_one_after_the_other(
    server: Server, store: ModelStore, tiny_model: TinyModel
) -> None:
    copy_model(tiny_model.store, store, "tiny")
    with ThreadPoolExecutor(3) as pool:
        answers = [r.json() for r in pool.map(lambda _: reload(server.url), range(3))]

    assert sorted(a["reloaded"] for a in answers) == [False, False, True]
    assert {a["version"] for a in answers} == {2}


def test_reloading_without_a_newer_version_changes_nothing(server: Server) -> None:
    assert reload(server.url).json() == {
        "name": "tiny",
        "version": 1,
        "previous_version": 1,
        "reloaded": False,
    }
    assert_problem(reload(server.url, "nope"), 404, "model_not_found")


@pytest.mark.parametrize("fault", FAULTS)
def test_a_broken_artifact_at_start_takes_down_only_its_model_and_says_why(
    store: ModelStore, tiny_model: TinyModel, fault: str
) -> None:
    copy_model(tiny_model.store, store, "tiny", as_name="broken")
    break_artifact(store.root / "broken" / "1", fault)

    with (
        running(Settings(model_dir=store.root, admin_key=ADMIN_KEY)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["models"] == [{"name": "tiny", "version": 1}]
        (unavailable,) = ready.json()["unavailable"]
        assert unavailable["name"] == "broken"
        assert "model 'broken' version 1" in unavailable["reason"]
        assert str(store.root) not in ready.text
        assert http.get("/v1/models").json()["unavailable"] == [unavailable]

        def detect(name: str) -> httpx.Response:
            return http.post(
                f"/v1/models/{name}/detect",
                content=body(values=rows()),
                headers={"content-type": JSON_TYPE},
            )

        assert_problem(detect("broken"), 503, "model_unavailable")
        assert detect("tiny").status_code == 200

        # a good version written later is served after a reload, without a restart
        copy_model(tiny_model.store, store, "tiny", as_name="broken")
        assert reload(server.url, "broken").json()["version"] == 2
        assert http.get("/v1/models").json()["unavailable"] == []
        assert detect("broken").status_code == 200


def test_without_any_loadable_model_readiness_fails_and_says_why(
    store: ModelStore, tmp_path: Path
) -> None:
    break_artifact(store.root / "tiny" / "1", "tampered")
    with running(Settings(model_dir=store.root)) as server:
        problem = assert_problem(httpx.get(server.url + "/readyz"), 503, "not_ready")
    (unavailable,) = problem["unavailable"]
    assert unavailable["name"] == "tiny"
    assert "SHA-256" in unavailable["reason"]


def test_the_reload_log_line_says_whether_a_version_was_served_before(
    store: ModelStore, tiny_model: TinyModel, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry(store)
    with caplog.at_level("INFO", logger="rarewatch"):
        registry.reload("tiny")
        copy_model(tiny_model.store, store, "tiny")
        registry.reload("tiny")
    assert "model 'tiny' now serves version 1 (not served before)" in caplog.text
    assert "model 'tiny' now serves version 2 (was 1)" in caplog.text
    assert "None" not in caplog.text
