"""Optional API keys (X-API-Key or Authorization: Bearer), the admin key for reloads, CORS from
the settings and none by default."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.security import Keys
from app.settings import Settings
from tests.app.api.test_bad_input import DETECT, JSON_TYPE, assert_problem, body, rows
from tests.app.conftest import Server, running
from tests.conftest import TinyModel

API_KEYS = ["first-key", "second-key"]
ADMIN_KEY = "the-admin-key"
ORIGIN = "https://dashboard.example"


@pytest.fixture(scope="module")
def guarded(tiny_model: TinyModel) -> Iterator[Server]:
    settings = Settings(
        model_dir=tiny_model.store.root,
        api_keys=API_KEYS,
        admin_key=ADMIN_KEY,
        cors_origins=[ORIGIN],
        max_body_bytes=1024,
    )
    with running(settings) as server:
        yield server


def detect(url: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
    headers = {"content-type": JSON_TYPE, **headers}
    return httpx.post(url + DETECT, content=content or body(values=rows()), headers=headers)


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": "second-key"}, {"Authorization": "Bearer first-key"}, {"X-API-Key": ADMIN_KEY}],
    ids=["X-API-Key", "Bearer", "the admin key"],
)
def test_a_valid_key_in_either_header_is_served(guarded: Server, headers: dict[str, str]) -> None:
    assert detect(guarded.url, headers).status_code == 200


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


def test_health_readiness_metrics_and_docs_need_no_key(guarded: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert httpx.get(guarded.url + path).status_code == 200, path


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
    monkeypatch.setenv("RAREWATCH_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.api_keys == ["k1", "k2"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert "k1" not in repr(settings)
    assert "boss" not in repr(settings)
    keys = Keys.of(settings)
    assert keys.is_api_key("k2")
    assert keys.is_api_key("boss")
    assert not keys.is_api_key("k3")
    assert keys.is_admin("boss")
    assert not keys.is_admin("k1")
    assert not keys.is_admin(None)


def test_by_default_there_are_no_keys_and_no_origins() -> None:
    settings = Settings()
    assert settings.api_keys == []
    assert settings.admin_key is None
    assert settings.cors_origins == []
