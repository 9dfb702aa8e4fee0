"""Host headers against the real server: names a DNS-rebinding page would send get 400
problem+json on every route, IP addresses, names without a dot and the listed names are served,
and no answer builds a URL from the Host header (no slash redirects)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.hosts import host_name
from app.settings import Settings
from tests.app.api.test_bad_input import assert_problem
from tests.app.conftest import Server, running
from tests.conftest import TinyModel

EVIL = "evil.example"
ROUTES = ["/healthz", "/readyz", "/metrics", "/v1/models", "/v1/models/tiny", "/", "/docs"]


@pytest.fixture(scope="module")
def listed(tiny_model: TinyModel) -> Iterator[Server]:
    settings = Settings(model_dir=tiny_model.store.root, allowed_hosts="rarewatch.example.com")
    with running(settings) as server:
        yield server


def get(server: Server, path: str, host: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return http.get(path, headers={"host": host})


@pytest.mark.parametrize("path", ROUTES)
def test_a_name_that_is_not_the_servers_gets_a_400_on_every_route(
    listed: Server, path: str
) -> None:
    response = get(listed, path, f"{EVIL}:8000")
    problem = assert_problem(response, 400, "host_not_allowed")
    assert EVIL not in response.text
    assert "RAREWATCH_ALLOWED_HOSTS" in problem["detail"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8000",  # the container's health check
        "localhost:8000",
        "[::1]:8000",
        "10.1.2.3",  # a Kubernetes probe: the pod's address
        "rarewatch:8000",  # docker-compose's service name, as Prometheus scrapes it
        "RareWatch.Example.com",  # listed (names are not case-sensitive)
        "rarewatch.example.com:443",
    ],
)
def test_addresses_names_without_a_dot_and_listed_names_are_served(
    listed: Server, host: str
) -> None:
    assert get(listed, "/healthz", host).status_code == 200


def test_a_star_serves_every_name(tiny_model: TinyModel) -> None:
    with running(Settings(model_dir=tiny_model.store.root, allowed_hosts="*")) as server:
        assert get(server, "/healthz", EVIL).status_code == 200


def test_a_trailing_slash_is_a_404_never_a_redirect_built_from_the_host(listed: Server) -> None:
    # it was a 307 to http://evil.example/healthz for Host: evil.example
    for host in ("127.0.0.1", EVIL):
        response = get(listed, "/healthz/", host)
        assert "location" not in response.headers
        assert response.status_code in (400, 404)
    assert_problem(get(listed, "/healthz/", "127.0.0.1"), 404, "not_found")
    assert_problem(get(listed, "/v1/models/", "127.0.0.1"), 404, "not_found")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("example.com", "example.com"),
        ("example.com:80", "example.com"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:8000", "127.0.0.1"),
    ],
)
def test_the_host_name_is_the_header_without_its_port(host: str, name: str) -> None:
    assert host_name(host) == name
