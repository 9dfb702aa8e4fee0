"""What the API says about its models, versions chosen with ?version=, health and readiness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.api.schemas import ModelInfo, ModelList, Readiness
from app.client import Client, RarewatchAPIError
from app.settings import Settings
from models.artifact import ModelStore
from models.spec import TrainingOptions
from tests.app.conftest import Server, running
from tests.conftest import TINY_FEATURES, TINY_LOOKBACK, TinyModel, tiny_frame

THRESHOLDS = {1: 0.5, 2: 0.25, 3: 0.125}  # one per version, to tell the versions apart


@pytest.fixture(scope="module")
def versioned(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tiny model stored as versions 1, 2 and 3; at most one older version kept loaded."""
    stored = tiny_model.store.open("tiny")
    spec, weights, onnx = stored.spec, stored.weights(), stored.onnx()
    store = ModelStore(tmp_path_factory.mktemp("versioned"))
    for value in THRESHOLDS.values():
        threshold = spec.threshold.model_copy(update={"value": value})
        store.write("tiny", spec.model_copy(update={"threshold": threshold}), weights, onnx)
    with running(Settings(model_dir=store.root, max_older_versions=1)) as server:
        server.app.state.registry.newest("tiny")  # in memory, as after its first request
        yield server


def test_the_model_list_names_versions_features_lookback_and_threshold(api: Client) -> None:
    listing = api.models()

    ModelList.model_validate(listing)
    (tiny,) = listing["models"]
    assert tiny["name"] == "tiny"
    assert tiny["version"] == 1
    assert tiny["versions"] == [1]
    assert tiny["features"] == TINY_FEATURES
    assert tiny["lookback"] == TINY_LOOKBACK
    assert tiny["threshold"] > 0
    assert tiny["threshold_method"] == "quantile"
    assert listing["unavailable"] == []


def test_a_model_is_described_with_quantiles_training_and_its_layer_table(
    api: Client, tiny_model: TinyModel
) -> None:
    info = api.model("tiny")

    ModelInfo.model_validate(info)
    spec = tiny_model.store.open("tiny").spec
    assert info["threshold"] == spec.threshold.model_dump(mode="json")
    assert set(info["threshold"]) == {"value", "method", "quantile", "margin"}
    assert (info["scaling"], info["window_transform"], info["alarm_after"]) == (
        str(spec.scaler.method),
        str(spec.window_transform),
        spec.alarm_after,
    )
    assert (info["error_standardisation"], info["smoothing"]) == ("none", 1)  # the defaults
    assert info["alarm_hold"] == spec.alarm_hold == TrainingOptions().alarm_hold  # the default
    assert info["relative_scale_floor"] == TrainingOptions().relative_scale_floor == 0.01
    assert info["validation_error_quantiles"]["0.5"] < info["threshold"]["value"]
    assert info["training"]["rows"] == len(tiny_frame())
    assert [layer["layer"] for layer in info["layers"]] == [row.name for row in spec.layers]
    assert info["layers"][-1]["output_shape"] == [None, TINY_LOOKBACK, len(TINY_FEATURES)]
    assert info["total_params"] == sum(layer["params"] for layer in info["layers"]) > 0


def test_the_newest_version_is_served_by_default_and_any_other_on_request(
    versioned: Server,
) -> None:
    values = tiny_frame(20)[TINY_FEATURES]
    with Client(versioned.url) as api:
        assert api.models()["models"][0]["versions"] == [1, 2, 3]
        for version in (None, 1, 2, 3):
            answer = api.detect("tiny", values=values, version=version)
            expected = 3 if version is None else version
            assert answer["model"]["version"] == expected
            assert answer["threshold"] == THRESHOLDS[expected]
            assert api.model("tiny", version=version)["threshold"]["value"] == THRESHOLDS[expected]
        last = api.detect_last("tiny", values=values, version=1)
        assert last["model"]["version"] == 1


def test_older_versions_are_loaded_on_demand_and_at_most_the_configured_number_kept(
    versioned: Server,
) -> None:
    values = tiny_frame(10)[TINY_FEATURES]
    registry = versioned.app.state.registry
    with Client(versioned.url) as api:
        api.detect("tiny", values=values, version=1)
        assert registry.in_memory() == [("tiny", 3), ("tiny", 1)]
        api.detect("tiny", values=values, version=2)
        assert registry.in_memory() == [("tiny", 3), ("tiny", 2)]


def test_describing_an_old_version_does_not_load_it(versioned: Server) -> None:
    registry = versioned.app.state.registry
    before = registry.in_memory()
    with Client(versioned.url) as api:
        described = [v for v in (1, 2) if ("tiny", v) not in before]
        for version in described:
            assert api.model("tiny", version=version)["version"] == version
    assert registry.in_memory() == before


def test_liveness_is_always_ok_and_readiness_lists_the_loaded_models(api: Client) -> None:
    assert api.health() == {"status": "ok"}
    ready = api.ready()
    Readiness.model_validate(ready)
    assert ready == {
        "status": "ready",
        "models": [{"name": "tiny", "version": 1}],
        "unavailable": [],
    }


def test_without_a_loadable_model_the_service_is_live_but_not_ready(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)  # a version folder without any artifact file
    with running(Settings(model_dir=tmp_path)) as server, Client(server.url) as api:
        assert api.health() == {"status": "ok"}
        with pytest.raises(RarewatchAPIError) as not_ready:
            api.ready()
        assert not_ready.value.status == 503
        assert not_ready.value.code == "not_ready"
        listing = api.models()
        assert listing["models"] == []
        assert [m["name"] for m in listing["unavailable"]] == ["broken"]
        assert "manifest.json is missing" in listing["unavailable"][0]["reason"]
        with pytest.raises(RarewatchAPIError) as unavailable:
            api.detect("broken", values=[[1.0, 2.0, 3.0]] * 4)
        assert unavailable.value.status == 503
        assert unavailable.value.code == "model_unavailable"
        assert str(tmp_path) not in unavailable.value.detail


def test_readiness_turns_false_when_the_service_shuts_down(tiny_model: TinyModel) -> None:
    with running(Settings(model_dir=tiny_model.store.root)) as server:
        registry = server.app.state.registry
        assert registry.ready
    assert not registry.ready


# Every answer documented has an example captured by scripts/api_docs.py (run it again when one
# is missing): every error a route names, with an answer of its status.
def test_every_route_has_examples_in_the_openapi_document(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            # JSON everywhere but /metrics, which answers in Prometheus' text format
            (ok,) = operation["responses"]["200"]["content"].values()
            assert ok.get("example"), f"{where}: no example answer"
            if "requestBody" in operation:
                examples = operation["requestBody"]["content"]["application/json"]["examples"]
                assert examples, f"{where}: no example request"
            for status, answer in operation["responses"].items():
                if status >= "400":
                    assert list(answer["content"]) == ["application/problem+json"], where
                    problem = answer["content"]["application/problem+json"]
                    assert problem.get("examples"), f"{where}: no example {status} answer"
                    shown = [example["value"] for example in problem["examples"].values()]
                    assert {value["status"] for value in shown} == {int(status)}, where
                    # one example at least of every error the description names
                    titles = set(answer["description"].split(" or "))
                    assert titles == {value["title"] for value in shown}, where


def test_the_interactive_docs_page_is_served(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert "/openapi.json" in page.text


def test_a_broken_older_version_is_unavailable_and_the_answer_holds_no_path(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    stored = tiny_model.store.open("tiny")
    store = ModelStore(tmp_path)
    for _ in range(2):
        store.write("tiny", stored.spec, stored.weights(), stored.onnx())
    (tmp_path / "tiny" / "1" / "detector.json").write_text("{}")  # no longer matches its SHA-256

    with running(Settings(model_dir=tmp_path)) as server, Client(server.url) as api:
        assert api.detect("tiny", values=tiny_frame(5)[TINY_FEATURES])["model"]["version"] == 2
        for call in (
            lambda: api.detect("tiny", values=tiny_frame(5)[TINY_FEATURES], version=1),
            lambda: api.model("tiny", version=1),
        ):
            with pytest.raises(RarewatchAPIError) as raised:
                call()
            assert raised.value.status == 503
            assert raised.value.code == "model_unavailable"
            assert str(tmp_path) not in raised.value.detail
