"""Every path no route serves, and every method a route does not take, is answered as
application/problem+json with a stable code, by the real server: never a bare "Not Found"."""

from __future__ import annotations

import httpx
import pytest

from tests.app.api.test_bad_input import DETECT, JSON_TYPE, assert_problem, body, rows

SLASH_IN_NAME = "a model name cannot hold a '/'"


def send(http: httpx.Client, method: str, path: str) -> httpx.Response:
    """The request with a valid detection body where the method carries one."""
    if method in {"POST", "PUT"}:
        content = body(values=rows())
        return http.request(method, path, content=content, headers={"content-type": JSON_TYPE})
    return http.request(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/models/a/b/detect"),
        ("POST", "/v1/models/a%2Fb/detect"),
        ("POST", "/v1/models/a/b/detect/last"),
        ("GET", "/v1/models/a/b"),
        ("POST", "/v1/models/tiny/detect/more"),
    ],
)
def test_a_slash_in_a_model_name_is_a_404_problem_that_says_names_hold_none(
    http: httpx.Client, method: str, path: str
) -> None:
    problem = assert_problem(send(http, method, path), 404, "not_found")
    assert SLASH_IN_NAME in str(problem["detail"])
    assert "/docs" in str(problem["detail"])


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/nope/",
        "/.env",
        "/v2/models/tiny/detect",
        "/static/",
        "/static/nope.js",
        "/static/index.html",
        "/docs/static/",
        "/docs/static/nope.js",
        "/docs/static/a/b",
    ],
)
def test_an_unknown_path_or_file_is_a_404_problem(http: httpx.Client, path: str) -> None:
    problem = assert_problem(http.get(path), 404, "not_found")
    assert SLASH_IN_NAME not in str(problem["detail"])


def test_a_head_request_for_an_unknown_path_is_a_bodiless_404_problem(http: httpx.Client) -> None:
    response = http.head("/nope")
    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", DETECT, "POST"),
        ("HEAD", DETECT, "POST"),
        ("PUT", DETECT, "POST"),
        ("DELETE", "/healthz", "GET"),
        ("OPTIONS", "/v1/models", "GET"),
        ("PUT", "/static/page.js", "GET"),
        ("POST", "/docs", "GET"),
        ("POST", "/redoc", "GET"),
        ("POST", "/docs/static/swagger-ui.css", "GET"),
    ],
)
def test_a_method_the_route_does_not_take_is_a_405_problem_with_the_allowed_ones(
    http: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = send(http, method, path)
    assert response.headers["allow"] == allowed
    if method == "HEAD":
        assert response.status_code == 405
        assert response.content == b""
        assert response.headers["content-type"] == "application/problem+json"
    else:
        problem = assert_problem(response, 405, "method_not_allowed")
        assert problem["detail"] == f"{method} is not allowed here; this path takes {allowed}"


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz/"), ("POST", DETECT + "/")])
def test_a_trailing_slash_on_a_served_path_is_a_404_not_a_redirect(
    http: httpx.Client, method: str, path: str
) -> None:
    # the redirect (307) built its Location from the Host header: issue 22, finding 4
    response = send(http, method, path)
    assert_problem(response, 404, "not_found")
    assert "location" not in response.headers
    assert send(http, method, path.rstrip("/")).status_code == 200
