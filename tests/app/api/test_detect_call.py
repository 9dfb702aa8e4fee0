"""The detection routes are called straight by StrictJSONRoute (app.api.deps.scoring_call), not
through FastAPI's dependency solving: the same checks in the same order, pinned here as FastAPI
answered them (the version, then the model, then the body; every error of the version and the
body listed together)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from app.api.deps import scoring_call
from app.api.routes import detect, models

PATHS = ["/v1/models/tiny/detect", "/v1/models/tiny/detect/last", "/v1/models/tiny/windows"]
JSON = {"content-type": "application/json"}
GOOD = {
    "/v1/models/tiny/detect": {"values": [[1.0, 2.0, 3.0]] * 5},
    "/v1/models/tiny/detect/last": {"values": [[1.0, 2.0, 3.0]] * 5},
    "/v1/models/tiny/windows": {"windows": [[[1.0, 2.0, 3.0]] * 4]},
}


def post(http: httpx.Client, path: str, body: object, query: str = "") -> httpx.Response:
    return http.post(path + query, json=body, headers=JSON)


@pytest.mark.parametrize("path", PATHS)
def test_a_bad_version_and_a_bad_body_are_listed_together_version_first(
    http: httpx.Client, path: str
) -> None:
    bad_body = GOOD[path] | {"surprise": 1}
    answer = post(http, path, bad_body, "?version=zz")
    assert answer.status_code == 422, answer.text
    listed = [e["loc"] for e in answer.json()["errors"]]
    assert listed == [["query", "version"], ["body", "(key 1)"]]


@pytest.mark.parametrize("path", PATHS)
def test_a_bad_version_is_refused_before_the_model_is_looked_up(
    http: httpx.Client, path: str
) -> None:
    answer = post(http, path.replace("tiny", "nope"), GOOD[path], "?version=0")
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == ["query", "version"]


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_model_is_a_404_before_the_body_is_validated(
    http: httpx.Client, path: str
) -> None:
    answer = post(http, path.replace("tiny", "nope"), {"surprise": 1})
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "model_not_found"


@pytest.mark.parametrize("path", PATHS)
def test_of_a_repeated_version_the_last_counts(http: httpx.Client, path: str) -> None:
    assert post(http, path, GOOD[path], "?version=zz&version=1").status_code == 200
    answer = post(http, path, GOOD[path], "?version=1&version=zz")
    assert answer.status_code == 422, answer.text


def test_only_the_detection_routes_are_called_straight() -> None:
    detection = [r for r in detect.router.routes if isinstance(r, APIRoute)]
    others = [r for r in models.router.routes if isinstance(r, APIRoute)]
    assert len(detection) == len(PATHS)
    assert all(scoring_call(route) is not None for route in detection)
    assert others
    assert all(scoring_call(route) is None for route in others)
