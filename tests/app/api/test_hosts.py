"""Host headers against the real server: names a DNS-rebinding page would send get 400
problem+json on every route; bound to loopback, loopback names and the listed names are served,
bound to every address, also IP addresses and names without a dot; no answer builds a URL from
the Host header (no slash redirects)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.hosts import Hosts, host_name, is_loopback
from app.settings import Settings
from tests.app.api.test_bad_input import assert_problem
from tests.app.conftest import Server, running
from tests.conftest import TinyModel

EVIL = "evil.example"
ROUTES = ["/healthz", "/readyz", "/metrics", "/v1/models", "/v1/models/tiny", "/", "/docs"]


LISTED = "rarewatch.example.com"


@pytest.fixture(scope="module")
def listed(tiny_model: TinyModel) -> Iterator[Server]:
    """Bound to loopback, as `rarewatch serve` is by default (and as the test server is)."""
    settings = Settings(model_dir=tiny_model.store.root, allowed_hosts=LISTED)
    with running(settings) as server:
        yield server


@pytest.fixture(scope="module")
def everywhere(tiny_model: TinyModel) -> Iterator[Server]:
    """Settings that say the server listens on every address, as the container does."""
    settings = Settings(model_dir=tiny_model.store.root, allowed_hosts=LISTED, host="0.0.0.0")
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


LOOPBACK_NAMES = [
    "127.0.0.1:8000",  # the container's health check
    "127.0.0.2",
    "localhost:8000",
    "LocalHost",
    "app.localhost:8000",  # resolves to loopback by definition (RFC 6761)
    "[::1]:8000",
]
LISTED_NAMES = ["RareWatch.Example.com", "rarewatch.example.com:443"]  # not case-sensitive
OTHER_MACHINE_NAMES = [
    "10.1.2.3",  # a Kubernetes probe: the pod's address
    "[fd00::1]:8000",
    "rarewatch:8000",  # docker-compose's service name, as Prometheus scrapes it
]


@pytest.mark.parametrize("host", LOOPBACK_NAMES + LISTED_NAMES)
def test_bound_to_loopback_loopback_and_listed_names_are_served(listed: Server, host: str) -> None:
    assert get(listed, "/healthz", host).status_code == 200


@pytest.mark.parametrize("host", [*OTHER_MACHINE_NAMES, "localhost.evil.example", EVIL])
def test_bound_to_loopback_other_names_and_addresses_get_a_400_saying_what_is_served(
    listed: Server, host: str
) -> None:
    problem = assert_problem(get(listed, "/healthz", host), 400, "host_not_allowed")
    assert "loopback addresses, localhost and RAREWATCH_ALLOWED_HOSTS" in problem["detail"]


@pytest.mark.parametrize("host", LOOPBACK_NAMES + LISTED_NAMES + OTHER_MACHINE_NAMES)
def test_bound_to_every_address_ip_addresses_and_names_without_a_dot_are_served_too(
    everywhere: Server, host: str
) -> None:
    assert get(everywhere, "/healthz", host).status_code == 200


def test_bound_to_every_address_dotted_names_still_need_listing(everywhere: Server) -> None:
    problem = assert_problem(get(everywhere, "/healthz", EVIL), 400, "host_not_allowed")
    assert "IP addresses, names without a dot and RAREWATCH_ALLOWED_HOSTS" in problem["detail"]


@pytest.mark.parametrize(
    ("bound_to", "loopback_only"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("rarewatch.example.com", False),
    ],
)
def test_the_default_follows_the_bind_address(bound_to: str, loopback_only: bool) -> None:
    assert is_loopback(bound_to) is loopback_only
    assert Hosts([], bound_to=bound_to).allows(b"10.1.2.3") is not loopback_only


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
