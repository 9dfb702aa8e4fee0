"""Optional API keys (X-API-Key or Authorization: Bearer), the admin key for reloads only, the
metrics key for /metrics only, readiness that names models only to a key holder, the headers of
every answer, CORS from the settings and none by default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.routing import APIRoute

from app.api.main import create_app
from app.api.security import ADMIN_PATH, Keys, require_admin
from app.settings import Settings
from models.artifact import ModelStore
from models.detector import Detector
from models.engines import Engine
from tests.app.api.test_bad_input import DETECT, JSON_TYPE, assert_problem, body, rows
from tests.app.conftest import Server, running
from tests.app.faults import break_artifact, copy_model
from tests.conftest import TinyModel

API_KEYS = ["first-key", "second-key"]
ADMIN_KEY = "the-admin-key"
METRICS_KEY = "the-metrics-key"
ORIGIN = "https://dashboard.example"
NO_CACHE_NO_SNIFF = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


@pytest.fixture(scope="module")
def guarded(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Keys of every kind, over a folder holding the tiny model and a broken copy of it."""
    store = ModelStore(tmp_path_factory.mktemp("guarded"))
    copy_model(tiny_model.store, store, "tiny")
    copy_model(tiny_model.store, store, "tiny", as_name="broken")
    break_artifact(store.root / "broken" / "1", "tampered")
    settings = Settings(
        model_dir=store.root,
        api_keys=API_KEYS,
        admin_key=ADMIN_KEY,
        metrics_key=METRICS_KEY,
        cors_origins=[ORIGIN],
        max_body_bytes=1024,
    )
    with running(settings) as server:
        yield server


@pytest.fixture(scope="module")
def metrics_only(tiny_model: TinyModel) -> Iterator[Server]:
    """Only the metrics key: /v1 is open, /metrics is not."""
    with running(Settings(model_dir=tiny_model.store.root, metrics_key=METRICS_KEY)) as server:
        yield server


def detect(url: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
    headers = {"content-type": JSON_TYPE, **headers}
    return httpx.post(url + DETECT, content=content or body(values=rows()), headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "second-key"},
        {"Authorization": "Bearer first-key"},
        {"X-API-Key": "first-key", "Authorization": "Bearer first-key"},
    ],
    ids=["X-API-Key", "Bearer", "the same key in both"],
)
def test_a_valid_key_in_either_header_is_served(guarded: Server, headers: dict[str, str]) -> None:
    assert detect(guarded.url, headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": ADMIN_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}],
    ids=["X-API-Key", "Bearer"],
)
def test_the_admin_key_opens_no_api_route(guarded: Server, headers: dict[str, str]) -> None:
    problem = assert_problem(detect(guarded.url, headers), 403, "forbidden")
    assert "no other route" in problem["detail"]
    models = httpx.get(guarded.url + "/v1/models", headers=headers)
    assert_problem(models, 403, "forbidden")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong", "Authorization": "Bearer first-key"},
        {"X-API-Key": "first-key", "Authorization": "Bearer wrong"},
        {"X-API-Key": "first-key", "Authorization": "Bearer second-key"},
    ],
    ids=["a wrong header, a valid bearer", "a valid header, a wrong bearer", "two valid keys"],
)
def test_a_request_whose_two_key_forms_disagree_is_refused(
    guarded: Server, headers: dict[str, str]
) -> None:
    problem = assert_problem(detect(guarded.url, headers), 401, "unauthorized")
    assert "different keys" in problem["detail"]
    for path in ("/v1/models", "/metrics", "/readyz"):
        assert_problem(httpx.get(guarded.url + path, headers=headers), 401, "unauthorized")
    reload = httpx.post(guarded.url + "/v1/models/tiny/reload", headers=headers, timeout=60)
    assert_problem(reload, 401, "unauthorized")
    mixed = {"X-API-Key": "first-key", "Authorization": f"Bearer {ADMIN_KEY}"}
    reload = httpx.post(guarded.url + "/v1/models/tiny/reload", headers=mixed, timeout=60)
    assert_problem(reload, 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer"}, {"Authorization": "Basic first-key"}],
    ids=["no key", "a wrong key", "an empty bearer", "another scheme"],
)
def test_without_a_valid_key_the_api_answers_401(guarded: Server, headers: dict[str, str]) -> None:
    response = detect(guarded.url, headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(httpx.get(guarded.url + "/v1/models", headers=headers), 401, "unauthorized")


def test_the_key_is_checked_before_the_body_is_read(guarded: Server) -> None:
    oversize = b"[" * 4096  # over the 1 KiB limit: 401, not 413, without a key
    assert_problem(detect(guarded.url, {}, oversize), 401, "unauthorized")
    assert_problem(detect(guarded.url, {"X-API-Key": "first-key"}, oversize), 413, "body_too_large")


def test_health_readiness_and_docs_need_no_key(guarded: Server) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/"):
        assert httpx.get(guarded.url + path).status_code == 200, path


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"X-API-Key": "wrong"}, 401, "unauthorized"),
        ({"X-API-Key": ADMIN_KEY}, 403, "forbidden"),
        ({"Authorization": f"Bearer {METRICS_KEY}"}, 200, None),
        ({"X-API-Key": METRICS_KEY}, 200, None),
        ({"X-API-Key": "second-key"}, 200, None),
    ],
    ids=["no key", "a wrong key", "the admin key", "the metrics key", "as X-API-Key", "an API key"],
)
def test_metrics_need_the_metrics_key_or_an_api_key_once_keys_are_set(
    guarded: Server, headers: dict[str, str], status: int, code: str | None
) -> None:
    response = httpx.get(guarded.url + "/metrics", headers=headers)
    if code is None:
        assert response.status_code == status
        assert "rarewatch_http_requests_total" in response.text
    else:
        problem = assert_problem(response, status, code)
        assert "tiny" not in response.text
        assert problem["detail"]


def test_the_metrics_key_opens_metrics_only(guarded: Server, metrics_only: Server) -> None:
    key = {"X-API-Key": METRICS_KEY}
    assert_problem(detect(guarded.url, key), 401, "unauthorized")
    assert_problem(httpx.get(guarded.url + "/v1/models", headers=key), 401, "unauthorized")
    reload = httpx.post(guarded.url + "/v1/models/tiny/reload", headers=key, timeout=60)
    assert_problem(reload, 401, "unauthorized")
    # set alone, it guards /metrics while /v1 stays open
    assert_problem(httpx.get(metrics_only.url + "/metrics"), 401, "unauthorized")
    assert httpx.get(metrics_only.url + "/metrics", headers=key).status_code == 200
    assert httpx.get(metrics_only.url + "/v1/models").status_code == 200
    assert httpx.get(metrics_only.url + "/readyz").json()["models"] == [
        {"name": "tiny", "version": 1}
    ]


def test_without_keys_metrics_are_open(http: httpx.Client) -> None:
    assert http.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ADMIN_KEY}],
    ids=["no key", "a wrong key", "the admin key"],
)
def test_readiness_without_an_api_key_says_ready_and_nothing_more(
    guarded: Server, headers: dict[str, str]
) -> None:
    response = httpx.get(guarded.url + "/readyz", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert "tiny" not in response.text
    assert "broken" not in response.text


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": "first-key"}, {"Authorization": f"Bearer {METRICS_KEY}"}],
    ids=["an API key", "the metrics key"],
)
def test_readiness_names_the_models_to_a_key_holder(
    guarded: Server, headers: dict[str, str]
) -> None:
    ready = httpx.get(guarded.url + "/readyz", headers=headers).json()
    assert ready["models"] == [{"name": "tiny", "version": 1}]
    assert [m["name"] for m in ready["unavailable"]] == ["broken"]


def test_without_keys_readiness_names_the_models(http: httpx.Client) -> None:
    assert http.get("/readyz").json()["models"] == [{"name": "tiny", "version": 1}]


def test_not_ready_names_no_model_to_a_caller_without_a_key(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    copy_model(tiny_model.store, store, "tiny")
    break_artifact(store.root / "tiny" / "1", "tampered")
    with running(Settings(model_dir=store.root, api_keys=API_KEYS)) as server:
        anonymous = httpx.get(server.url + "/readyz")
        with_key = httpx.get(server.url + "/readyz", headers={"X-API-Key": "first-key"})
    problem = assert_problem(anonymous, 503, "not_ready")
    assert "unavailable" not in problem
    assert "tiny" not in anonymous.text
    assert assert_problem(with_key, 503, "not_ready")["unavailable"][0]["name"] == "tiny"


def test_the_admin_path_is_exactly_the_routes_that_need_the_admin_key() -> None:
    for route in create_app(Settings()).routes:
        if isinstance(route, APIRoute):
            needs_admin = any(d.call is require_admin for d in route.dependant.dependencies)
            path = route.path.replace("{name}", "some-model")
            assert needs_admin == bool(ADMIN_PATH.fullmatch(path)), route.path


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", DETECT, {"X-API-Key": "first-key"}, 200),
        ("POST", DETECT, {}, 401),
        ("POST", DETECT, {"X-API-Key": ADMIN_KEY}, 403),
        ("POST", DETECT + "?version=1_0", {"X-API-Key": "first-key"}, 422),
        ("GET", "/v1/models/tiny", {"X-API-Key": "first-key"}, 200),
        ("GET", "/v1/models/nope", {"X-API-Key": "first-key"}, 404),
        ("GET", "/v1/nothing-here", {"X-API-Key": "first-key"}, 404),
        ("POST", "/v1/models/tiny/reload", {"X-API-Key": ADMIN_KEY}, 200),
        ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200),
        ("GET", "/metrics", {"X-API-Key": METRICS_KEY}, 200),
        ("GET", "/metrics", {}, 401),
        ("GET", "/openapi.json", {}, 200),
        ("DELETE", "/healthz", {}, 405),
    ],
)
def test_every_api_answer_is_never_cached_nor_sniffed(
    guarded: Server, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    content = body(values=rows()) if method == "POST" else None
    response = httpx.request(
        method,
        guarded.url + path,
        content=content,
        headers={"content-type": JSON_TYPE, **headers},
        timeout=60,
    )
    assert response.status_code == status
    for name, value in NO_CACHE_NO_SNIFF.items():
        assert response.headers.get_list(name) == [value], name


def test_the_web_page_and_the_docs_keep_their_own_caching(guarded: Server) -> None:
    for path in ("/", "/static/page.js", "/docs/static/swagger-ui.css"):
        response = httpx.get(guarded.url + path)
        assert response.status_code == 200, path
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], path
        assert response.headers["cache-control"] != "no-store", path
    assert httpx.get(guarded.url + "/docs").headers["cache-control"] == "no-store"


def test_the_openapi_document_declares_both_key_schemes(guarded: Server) -> None:
    document = httpx.get(guarded.url + "/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"APIKey", "Bearer"}
    assert document["paths"]["/v1/models"]["get"]["security"]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"X-API-Key": "first-key"}, 403, "forbidden"),
        ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ({"Authorization": f"Bearer {ADMIN_KEY}"}, 200, None),
    ],
    ids=["no key", "an API key", "a wrong key", "the admin key"],
)
def test_a_reload_needs_the_admin_key(
    guarded: Server, headers: dict[str, str], status: int, code: str | None
) -> None:
    response = httpx.post(guarded.url + "/v1/models/tiny/reload", headers=headers, timeout=60)
    if code is None:
        assert response.status_code == status
        assert response.json()["reloaded"] is False
    else:
        assert_problem(response, status, code)


def test_without_an_admin_key_reloads_over_http_are_off(http: httpx.Client) -> None:
    problem = assert_problem(http.post("/v1/models/tiny/reload"), 403, "forbidden")
    assert "RAREWATCH_ADMIN_KEY" in problem["detail"]
    assert "SIGHUP" in problem["detail"]


def test_cors_allows_only_the_configured_origins_and_never_credentials(guarded: Server) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(guarded.url + DETECT, headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers

    other = {**preflight, "Origin": "https://elsewhere.example"}
    refused = httpx.options(guarded.url + DETECT, headers=other)
    assert "access-control-allow-origin" not in refused.headers

    answer = detect(guarded.url, {"Origin": ORIGIN, "X-API-Key": "first-key"})
    assert answer.headers["access-control-allow-origin"] == ORIGIN


def test_without_origins_in_the_settings_there_is_no_cors(http: httpx.Client) -> None:
    response = http.get("/v1/models", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_keys_come_from_comma_separated_settings_and_are_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAREWATCH_API_KEYS", " k1, k2 ,")
    monkeypatch.setenv("RAREWATCH_ADMIN_KEY", "boss")
    monkeypatch.setenv("RAREWATCH_METRICS_KEY", "scraper")
    monkeypatch.setenv("RAREWATCH_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.api_keys == ["k1", "k2"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert "k1" not in repr(settings)
    assert "boss" not in repr(settings)
    assert "scraper" not in repr(settings)
    keys = Keys.of(settings)
    assert keys.is_api_key("k2")
    assert not keys.is_api_key("boss")  # the admin key is no API key
    assert not keys.is_api_key("k3")
    assert keys.is_admin("boss")
    assert not keys.is_admin("k1")
    assert not keys.is_admin(None)
    assert keys.may_read_metrics("scraper")
    assert keys.may_read_metrics("k1")
    assert not keys.may_read_metrics("boss")
    assert not keys.is_api_key("scraper")


def test_by_default_there_are_no_keys_and_no_origins() -> None:
    settings = Settings()
    assert settings.api_keys == []
    assert settings.admin_key is None
    assert settings.metrics_key is None
    assert settings.cors_origins == []


class FailingEngine(Engine):
    """A bug under the Detector: any exception, answered 500 outside the middleware stack."""

    name = "failing"

    def _run(self, windows: np.ndarray) -> np.ndarray:
        raise RuntimeError("a bug")


@pytest.mark.anyio
async def test_an_unexpected_error_is_answered_with_the_api_headers_too(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    spec = tiny_model.store.open("tiny").spec
    app = create_app(Settings(model_dir=tmp_path))
    async with app.router.lifespan_context(app):
        app.state.registry.add(
            Detector("failing", 1, spec, FailingEngine(spec.lookback, spec.n_features))
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            response = await client.post(
                "/v1/models/failing/detect",
                content=body(values=rows()),
                headers={"content-type": JSON_TYPE},
            )
    assert_problem(response, 500, "internal_error")
    for name, value in NO_CACHE_NO_SNIFF.items():
        assert response.headers.get_list(name) == [value], name
