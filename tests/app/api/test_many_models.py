"""Many models in one server: each found at start without being loaded, loaded on its first
request (once, however many requests ask at the same time), the least recently used unloaded
past the bound (a count, a memory budget); listed by pages; new ones found by a rescan; a broken
one answers for itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

from app.api.registry import Registry
from app.settings import Settings
from models.artifact import MANIFEST_FILE, ONNX_FILE, WEIGHTS_FILE, ModelStore
from models.loading import footprint, load_detector
from tests.app.api.test_bad_input import JSON_TYPE, assert_problem, body, rows
from tests.app.api.test_metrics_api import scrape, value
from tests.app.conftest import Server, running
from tests.app.faults import copy_model, wait_for
from tests.conftest import TinyModel

NAMES = ["pump-a", "pump-b", "pump-c"]


@pytest.fixture
def store(tiny_model: TinyModel, tmp_path: Path) -> ModelStore:
    """Three copies of the tiny model under their own names."""
    store = ModelStore(tmp_path)
    for name in NAMES:
        copy_model(tiny_model.store, store, "tiny", as_name=name)
    return store


@pytest.fixture
def two_at_most(store: ModelStore) -> Iterator[Server]:
    with running(Settings(model_dir=store.root, max_loaded_models=2)) as server:
        yield server


def detect(http: httpx.Client, name: str) -> httpx.Response:
    return http.post(
        f"/v1/models/{name}/detect/last",
        content=body(values=rows()),
        headers={"content-type": JSON_TYPE},
    )


def test_models_load_on_first_use_and_past_the_bound_the_least_recently_used_is_unloaded(
    two_at_most: Server,
) -> None:
    registry = two_at_most.app.state.registry
    with httpx.Client(base_url=two_at_most.url, timeout=60) as http:
        ready = http.get("/readyz").json()
        assert ready["models"] == [{"name": name, "version": 1} for name in NAMES]
        assert [m["name"] for m in http.get("/v1/models").json()["models"]] == NAMES
        assert registry.in_memory() == []  # ready and listed, none loaded

        for name in NAMES:
            assert detect(http, name).status_code == 200
        assert registry.in_memory() == [("pump-b", 1), ("pump-c", 1)]

        answer = detect(http, "pump-a")  # unloaded, so loaded again
        assert answer.status_code == 200
        assert answer.json()["model"]["name"] == "pump-a"
        assert registry.in_memory() == [("pump-c", 1), ("pump-a", 1)]
        assert detect(http, "pump-c").status_code == 200  # used: now the most recent
        assert detect(http, "pump-b").status_code == 200
        assert registry.in_memory() == [("pump-c", 1), ("pump-b", 1)]


def test_two_first_requests_for_a_model_load_it_once(two_at_most: Server) -> None:
    with httpx.Client(base_url=two_at_most.url, timeout=60) as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: detect(http, "pump-b"), range(8)))
        samples = scrape(http)
    assert [a.status_code for a in answers] == [200] * 8
    loads = "rarewatch_model_loads_total"
    assert value(samples, loads, model="pump-b", outcome="success") == 1


def test_the_model_list_comes_in_pages_without_loading_a_model(two_at_most: Server) -> None:
    with httpx.Client(base_url=two_at_most.url, timeout=60) as http:
        first = http.get("/v1/models", params={"limit": 2}).json()
        assert [m["name"] for m in first["models"]] == ["pump-a", "pump-b"]
        assert first["next_cursor"] == "pump-b"
        last = http.get("/v1/models", params={"limit": 2, "cursor": "pump-b"}).json()
        assert [m["name"] for m in last["models"]] == ["pump-c"]
        assert last["next_cursor"] is None
        whole = http.get("/v1/models").json()
        assert [m["name"] for m in whole["models"]] == NAMES
        assert whole["next_cursor"] is None
        assert whole["models"][0]["versions"] == [1]
        for limit in (0, 1001):
            assert_problem(http.get(f"/v1/models?limit={limit}"), 422, "validation_error")
    assert two_at_most.app.state.registry.in_memory() == []


def test_a_rescan_finds_new_models_and_new_versions_without_a_restart(
    store: ModelStore, tiny_model: TinyModel
) -> None:
    settings = Settings(model_dir=store.root, rescan_interval_s=0.2)
    with running(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        assert detect(http, "pump-d").status_code == 404
        assert detect(http, "pump-a").status_code == 200  # in memory when its version 2 comes

        copy_model(tiny_model.store, store, "tiny", as_name="pump-d")
        copy_model(tiny_model.store, store, "tiny", as_name="pump-a")
        copy_model(tiny_model.store, store, "tiny", as_name="pump-b")

        def served() -> dict[str, int]:
            return {m["name"]: m["version"] for m in http.get("/readyz").json()["models"]}

        wait_for(lambda: served() == {"pump-a": 2, "pump-b": 2, "pump-c": 1, "pump-d": 1})
        assert detect(http, "pump-d").status_code == 200
        assert detect(http, "pump-a").json()["model"]["version"] == 2
        assert detect(http, "pump-b").json()["model"]["version"] == 2


def with_unreadable_network(folder: Path) -> None:
    """A network file that is no network, listed in the manifest with its own SHA-256: the
    manifest check at start passes, the first load fails."""
    garbage = b"not a network"
    for file in (WEIGHTS_FILE, ONNX_FILE):
        (folder / file).write_bytes(garbage)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] |= dict.fromkeys((WEIGHTS_FILE, ONNX_FILE), sha256(garbage).hexdigest())
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_model_that_fails_at_its_first_load_answers_for_itself_and_the_others_serve(
    store: ModelStore,
) -> None:
    with_unreadable_network(store.root / "pump-b" / "1")
    with (
        running(Settings(model_dir=store.root)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        assert "pump-b" in [m["name"] for m in http.get("/readyz").json()["models"]]

        problem = assert_problem(detect(http, "pump-b"), 503, "model_unavailable")
        assert str(store.root) not in problem["detail"]
        assert_problem(detect(http, "pump-b"), 503, "model_unavailable")  # not retried
        assert detect(http, "pump-a").status_code == 200

        ready = http.get("/readyz").json()
        assert [m["name"] for m in ready["models"]] == ["pump-a", "pump-c"]
        (unavailable,) = ready["unavailable"]
        assert unavailable["name"] == "pump-b"
        assert "model 'pump-b' version 1" in unavailable["reason"]
        assert "cannot be" in unavailable["reason"]
        assert str(store.root) not in unavailable["reason"]
        assert http.get("/v1/models").json()["unavailable"] == [unavailable]
        samples = scrape(http)
    failures = value(samples, "rarewatch_model_loads_total", model="pump-b", outcome="failure")
    assert failures == 1


def test_a_rescan_does_not_try_a_refused_version_again_but_tries_a_newer_one(
    store: ModelStore, tiny_model: TinyModel, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry(store)
    registry.scan()
    assert registry.newest("pump-a").version == 1  # in memory: a rescan loads its new version
    broken = copy_model(tiny_model.store, store, "tiny", as_name="pump-a")
    with_unreadable_network(store.root / "pump-a" / str(broken))
    with caplog.at_level("ERROR", logger="rarewatch"):
        for _ in range(3):
            registry.rescan()
    refusals = [r for r in caplog.records if f"version {broken} is not served" in r.getMessage()]
    assert len(refusals) == 1
    assert registry.newest("pump-a").version == 1

    newer = copy_model(tiny_model.store, store, "tiny", as_name="pump-a")
    registry.rescan()
    assert registry.newest("pump-a").version == newer


def test_past_the_memory_budget_the_least_recently_used_is_unloaded(store: ModelStore) -> None:
    size = footprint(load_detector(store, "pump-a"))  # the three copies are the same size
    budget_mb = 2.5 * size / 2**20  # room for two
    settings = Settings(model_dir=store.root, max_loaded_models_mb=budget_mb)
    with running(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        registry = server.app.state.registry
        for name in NAMES:
            assert detect(http, name).status_code == 200
        assert registry.in_memory() == [("pump-b", 1), ("pump-c", 1)]
        assert registry.loaded_bytes == 2 * size
        assert detect(http, "pump-a").status_code == 200  # unloaded, so loaded again
        assert registry.in_memory() == [("pump-c", 1), ("pump-a", 1)]
        assert registry.loaded_bytes == 2 * size


def test_a_model_larger_than_the_memory_budget_is_still_served_alone(store: ModelStore) -> None:
    registry = Registry(store, max_loaded_mb=0.01)  # less than any model
    registry.scan()
    for name in NAMES:
        assert registry.newest(name).name == name
        assert registry.in_memory() == [(name, 1)]
    assert registry.loaded_bytes == footprint(registry.newest("pump-c"))
