"""The overload refusal answered before routing is the same answer, byte for byte, as the one
the route gave before it (captured from the server at bb37519), with the same precedence: a
request without a key still gets its 401, and every refusal is counted under its route."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.api.admission import Admission
from app.api.front import AdmissionMiddleware
from app.api.routes import detect
from app.settings import Settings
from tests.app.api.test_metrics_api import value
from tests.app.conftest import running
from tests.conftest import TinyModel

BODY = b'{"values": [[1.0, 2.0, 3.0]]}'
DETAIL = (
    b'{"type":"urn:rarewatch:problem:overloaded","title":"Overloaded","status":503,'
    b'"detail":"the service is at its bound of 2 concurrent and 3 queued detection requests; '
    b'retry after 7 s","code":"overloaded"}'
)
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nserver: uvicorn\r\ncontent-length: 201\r\n"
    b"content-type: application/problem+json\r\nretry-after: 7\r\n"
)
SAFE = b"x-content-type-options: nosniff\r\ncache-control: no-store\r\n\r\n"
CORS = b"access-control-expose-headers: Retry-After\r\naccess-control-allow-origin: http://a.example\r\nvary: Origin\r\n"  # noqa: E501
UNAUTHORIZED = (
    b"HTTP/1.1 401 Unauthorized\r\nserver: uvicorn\r\ncontent-length: 187\r\n"
    b'content-type: application/problem+json\r\nwww-authenticate: Bearer realm="rarewatch"\r\n'
    b"vary: Origin\r\n" + SAFE + b'{"type":"urn:rarewatch:problem:unauthorized","title":'
    b'"Unauthorized","status":401,"detail":"send a valid API key in the X-API-Key header or as '
    b'Authorization: Bearer","code":"unauthorized"}'
)


def exchange(url: str, path: str, headers: bytes = b"") -> bytes:
    """One raw request; the raw answer without its Date header."""
    address = urlsplit(url)
    request = (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
        + b"Content-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )  # fmt: skip
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += sock.recv(65536)
    lines = answer.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().startswith(b"date:"))


@pytest.mark.parametrize("extra", [{}, {"api_keys": "k1", "cors_origins": "http://a.example"}])
def test_an_overload_refusal_is_the_same_answer_as_before_and_is_counted_under_its_route(
    tiny_model: TinyModel, extra: dict[str, str]
) -> None:
    settings = Settings(
        model_dir=tiny_model.store.root,
        max_concurrent_inferences=2,
        max_queued_requests=3,
        retry_after_s=7,
        **extra,  # type: ignore[arg-type]
    )
    with running(settings) as server:
        admission = server.app.state.admission
        admission.admitted = admission.max_concurrent + admission.max_queued  # the queue is full
        key = b"X-API-Key: k1\r\n" if extra else b""
        origin = b"Origin: http://a.example\r\n" if extra else b""
        vary = b"vary: Origin\r\n" if extra else b""
        paths = ["/v1/models/tiny/detect/last", "/v1/models/tiny/windows", "/v1/models/x/detect"]
        assert (
            exchange(server.url, paths[0], key + origin)
            == REFUSED + (CORS if extra else b"") + SAFE + DETAIL
        )
        assert exchange(server.url, paths[1], key) == REFUSED + vary + SAFE + DETAIL
        # refused before the version is read or the model looked up, as the route did
        assert exchange(server.url, paths[2] + "?version=zz", key) == REFUSED + vary + SAFE + DETAIL
        if extra:
            assert exchange(server.url, paths[0]) == UNAUTHORIZED  # the key is checked first
        assert admission.refused == 3
        metrics = server.app.state.metrics
        admission.admitted = 0

    def refusals(route: str) -> float:  # read once the server stopped: every count is in
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in metrics.registry.collect()
            for sample in family.samples
        }
        requests = "rarewatch_http_requests_total"
        return value(samples, requests, route=route, method="POST", status="503")

    for route in ("/detect/last", "/windows", "/detect"):
        assert refusals("/v1/models/{name}" + route) == 1


def test_the_refusal_is_decided_before_the_app_behind_the_layer_is_reached() -> None:
    """The layer alone, in front of an app that fails the test if a request reaches it: a
    detection request finding the queue full is answered without it; anything else goes on."""
    admission = Admission(max_concurrent=1, max_queued=0, retry_after_s=1)
    reached: list[str] = []

    async def behind(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    layer = AdmissionMiddleware(behind, admission, detect.router.routes)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        raise AssertionError("the body is never read")

    def call(path: str, method: str = "POST", content_type: bytes = b"application/json") -> None:
        scope = {"type": "http", "method": method, "path": path}
        scope["headers"] = [(b"content-type", content_type)]
        asyncio.run(layer(scope, receive, send))

    call("/v1/models/tiny/detect/last")  # a free place: it goes on
    admission.admitted = 1  # the queue is full from now on
    call("/v1/models/tiny/detect")
    call("/v1/models/tiny/windows")
    call("/v1/models/tiny/detect", content_type=b"text/plain")  # the route answers 415
    call("/v1/models/tiny", method="GET")
    call("/healthz", method="GET")
    assert reached == [
        "/v1/models/tiny/detect/last",
        "/v1/models/tiny/detect",
        "/v1/models/tiny",
        "/healthz",
    ]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [503, 503]
    assert admission.refused == 2
