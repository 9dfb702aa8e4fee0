"""Swagger UI at /docs and ReDoc at /redoc work offline: their files come from the package, and
in Chromium, with every request to another host refused, both pages render every operation.

The browser tests need Debian's chromium and Playwright for Python; without either they skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.app.api.test_bad_input import assert_problem
from tests.app.conftest import Server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

DETECT_PATH = "/v1/models/{name}/detect"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


def operations(http: httpx.Client) -> dict[str, str]:
    """operationId -> path, for every operation in the OpenAPI document."""
    paths = http.get("/openapi.json").json()["paths"]
    return {op["operationId"]: path for path, ops in paths.items() for op in ops.values()}


def test_the_docs_pages_load_only_files_this_server_serves(http: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        response = http.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        sources = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
        assert sources
        assert all(source.startswith("/") for source in sources), sources
        assert not re.search(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", response.text)
    assert '"validatorUrl": null' in http.get("/docs").text  # no badge from an online validator
    for name, kind in ASSETS.items():
        asset = http.get(f"/docs/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        assert len(asset.content) > 1000


def test_the_docs_stay_out_of_the_openapi_document_and_serve_only_their_own_files(
    http: httpx.Client,
) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert not any(path.startswith(("/docs", "/redoc")) for path in paths)
    for name in ("index.html", "page.js", "../routes/docs.py", "%2e%2e%2fcore.py", "consts.py"):
        assert_problem(http.get(f"/docs/static/{name}"), 404, "not_found")


@dataclass
class Offline:
    page: Page
    elsewhere: list[str] = field(default_factory=list)  # requests refused: to any other host
    script_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline(browser_context: BrowserContext, server: Server) -> Offline:
    """A page in a fresh browser context that reaches this server and nothing else."""
    offline = Offline(browser_context.new_page())

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            offline.elsewhere.append(route.request.url)
            route.abort()

    browser_context.route("**/*", only_this_server)
    offline.page.on("pageerror", lambda error: offline.script_errors.append(str(error)))
    return offline


def test_swagger_ui_renders_every_operation_offline_and_tries_one_out(
    offline: Offline, server: Server, http: httpx.Client
) -> None:
    page = offline.page
    page.goto(server.url + "/docs")
    page.wait_for_selector(f'.opblock-summary-path[data-path="{DETECT_PATH}"]')
    assert page.locator(".opblock").count() == len(operations(http))

    health = page.locator("#operations-health-healthz_healthz_get")
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert offline.elsewhere == []
    assert offline.script_errors == []


def test_redoc_renders_every_operation_offline(
    offline: Offline, server: Server, http: httpx.Client
) -> None:
    page = offline.page
    page.goto(server.url + "/redoc")
    documented = operations(http)
    detect = next(op for op, path in documented.items() if path == DETECT_PATH)
    page.wait_for_selector(f'[data-section-id="operation/{detect}"]')
    rendered = page.locator('[data-section-id^="operation/"]')
    assert rendered.count() == len(documented)
    assert DETECT_PATH in page.locator(f'[data-section-id="operation/{detect}"]').inner_text()
    assert offline.elsewhere == []
    assert offline.script_errors == []
