"""Overload: past the bound on concurrent and queued detection requests, 503 with Retry-After at
once; the queue never grows past its bound, queued requests are served, health bypasses it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from app.settings import Settings
from tests.app.api.test_bad_input import JSON_TYPE, assert_problem, body, rows
from tests.app.conftest import Server, running
from tests.app.faults import GatedEngine, gated, wait_for
from tests.conftest import TinyModel

GATED = "/v1/models/gated/detect"


@pytest.fixture
def bounded(tiny_model: TinyModel) -> Iterator[tuple[Server, GatedEngine]]:
    """One inference at a time, one more waiting; a model whose network waits for the test."""
    settings = Settings(
        model_dir=tiny_model.store.root,
        max_concurrent_inferences=1,
        max_queued_requests=1,
        retry_after_s=2,
    )
    with running(settings) as server:
        registry = server.app.state.registry
        detector, engine = gated(registry.newest("tiny"))
        registry.add(detector)
        yield server, engine
        engine.gate.set()


def post(http: httpx.Client, path: str = GATED) -> httpx.Response:
    return http.post(path, content=body(values=rows()), headers={"content-type": JSON_TYPE})


def test_past_the_bound_a_request_is_refused_at_once_and_the_admitted_ones_are_served(
    bounded: tuple[Server, GatedEngine],
) -> None:
    server, engine = bounded
    admission = server.app.state.admission
    engine.gate.clear()
    with httpx.Client(base_url=server.url, timeout=30) as http, ThreadPoolExecutor(2) as pool:
        running: Future[httpx.Response] = pool.submit(post, http)
        wait_for(lambda: engine.entered == 1)  # scoring, and holding the only slot
        queued: Future[httpx.Response] = pool.submit(post, http)
        wait_for(lambda: admission.admitted == 2)  # waiting for the slot

        refused = post(http)
        problem = assert_problem(refused, 503, "overloaded")
        assert refused.headers["retry-after"] == "2"
        assert "retry after 2 s" in problem["detail"]
        # answered while the gate still holds the other two: refused at once, not queued behind it
        assert not running.done()
        assert not queued.done()

        assert http.get("/healthz").status_code == 200  # health, readiness and models bypass it
        assert http.get("/readyz").status_code == 200
        assert http.get("/v1/models/tiny").status_code == 200

        engine.gate.set()
        assert running.result().status_code == 200
        assert queued.result().status_code == 200
        assert post(http).status_code == 200  # and the next request is served again
    assert admission.admitted == 0
    assert admission.running == 0
    assert admission.refused == 1


def test_every_detection_route_counts_against_the_same_bound(
    bounded: tuple[Server, GatedEngine],
) -> None:
    server, engine = bounded
    engine.gate.clear()
    with httpx.Client(base_url=server.url, timeout=30) as http, ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(post, http)]
        wait_for(lambda: engine.entered == 1)
        futures.append(pool.submit(post, http))
        wait_for(lambda: server.app.state.admission.admitted == 2)
        for path in ("/v1/models/tiny/detect/last", "/v1/models/tiny/detect"):
            assert_problem(post(http, path), 503, "overloaded")
        windows = body(windows=[rows(4)])
        refused = http.post(
            "/v1/models/tiny/windows", content=windows, headers={"content-type": JSON_TYPE}
        )
        assert_problem(refused, 503, "overloaded")
        engine.gate.set()
        assert [f.result().status_code for f in futures] == [200, 200]


def test_a_request_waiting_longer_than_the_time_bound_for_a_slot_gets_a_503(
    tiny_model: TinyModel,
) -> None:
    settings = Settings(
        model_dir=tiny_model.store.root, max_concurrent_inferences=1, request_timeout_s=0.5
    )
    with running(settings) as server:
        registry = server.app.state.registry
        detector, engine = gated(registry.newest("tiny"))
        registry.add(detector)
        engine.gate.clear()
        with httpx.Client(base_url=server.url, timeout=30) as http, ThreadPoolExecutor(1) as pool:
            held: Future[httpx.Response] = pool.submit(post, http)
            wait_for(lambda: engine.entered == 1)  # holding the only slot
            problem = assert_problem(post(http), 503, "overloaded")
            assert "no inference slot came free within 0.5 s" in problem["detail"]
            engine.gate.set()
            assert held.result().status_code == 200
            assert post(http).status_code == 200


def test_a_body_that_trickles_in_slower_than_the_time_bound_gets_a_408(
    tiny_model: TinyModel,
) -> None:
    from urllib.parse import urlsplit

    settings = Settings(model_dir=tiny_model.store.root, body_timeout_s=0.5)
    with running(settings) as server:
        address = urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/models/tiny/detect HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"values": [[0.1,'  # and then nothing more: a slow (or stalled) sender
            )
            answer = read_answer(sock)
        assert answer.startswith("HTTP/1.1 408")
        assert "application/problem+json" in answer
        assert '"code":"request_timeout"' in answer
        assert server.app.state.admission.admitted == 0  # it never held a place in the queue
        assert server.app.state.reception.arriving == 0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert post(http, "/v1/models/tiny/detect").status_code == 200


def read_answer(sock: socket.socket) -> str:
    """One whole HTTP answer from a raw socket: headers and body can come in separate writes
    (uvicorn with httptools sends them so), so read until the Content-Length is in."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before the whole body"
        rest += chunk
    return (head + b"\r\n\r\n" + rest).decode()
