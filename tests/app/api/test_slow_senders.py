"""Slow and stalled senders against the real server (its protocol, raw sockets): a body still
arriving holds no place in the queue, bodies arriving are bounded per client, idle and
half-sent connections are closed after the header timeout, and an answer to a request that did
not arrive whole (408, 413) closes the connection."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import pytest

from app.settings import Settings
from tests.app.api.test_bad_input import JSON_TYPE, assert_problem, body, rows
from tests.app.api.test_overload import read_answer
from tests.app.conftest import Server, running
from tests.app.faults import wait_for
from tests.conftest import TinyModel

DETECT = "/v1/models/tiny/detect"
# the probe's request: a body of 1914 bytes announced, and only its first byte sent
TRICKLE = (
    b"POST /v1/models/tiny/detect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1914\r\n\r\n{"
)
WAIT_S = 10.0


def connect(server: Server, source: str = "127.0.0.1") -> socket.socket:
    """A raw connection to the server from `source`, one of the loopback addresses (Linux
    answers for all of 127.0.0.0/8), so that tests can play several clients."""
    address = urlsplit(server.url)
    assert address.hostname
    assert address.port
    return socket.create_connection(
        (address.hostname, address.port), timeout=WAIT_S, source_address=(source, 0)
    )


def trickler(server: Server, stack: ExitStack, source: str) -> socket.socket:
    sock = stack.enter_context(connect(server, source))
    sock.sendall(TRICKLE)
    return sock


def detect(server: Server) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=WAIT_S) as http:
        return http.post(DETECT, content=body(values=rows()), headers={"content-type": JSON_TYPE})


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes the connection (rather than the wait running out)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def bodies_arriving(server: Server) -> int:
    return int(server.app.state.reception.arriving)


@pytest.fixture
def served(tiny_model: TinyModel) -> Iterator[Server]:
    """Default bounds (4 inferences, 16 queued, 8 bodies per client) and a header timeout
    short enough to watch."""
    with running(Settings(model_dir=tiny_model.store.root, header_timeout_s=0.5)) as server:
        yield server


def test_twenty_trickling_senders_do_not_stop_a_normal_client(served: Server) -> None:
    # 20 is the whole queue (4 running + 16 waiting): once every place was taken by a sender
    # that never finishes its body, and every other detection got 503 until the timeout
    with ExitStack() as stack:
        for i in range(20):
            trickler(served, stack, f"127.0.0.{2 + i}")
        wait_for(lambda: bodies_arriving(served) == 20, WAIT_S)

        assert detect(served).status_code == 200
        assert served.app.state.admission.admitted == 0  # the tricklers hold no place


def test_a_client_has_at_most_its_bound_of_bodies_arriving(tiny_model: TinyModel) -> None:
    settings = Settings(model_dir=tiny_model.store.root, max_body_reads_per_client=2)
    with running(settings) as server, ExitStack() as stack:
        for _ in range(2):
            trickler(server, stack, "127.0.0.2")
        wait_for(lambda: bodies_arriving(server) == 2, WAIT_S)

        third = trickler(server, stack, "127.0.0.2")
        answer = read_answer(third)
        assert answer.startswith("HTTP/1.1 503")
        assert '"code":"overloaded"' in answer
        assert "retry-after: 1" in answer.lower()
        # another client, and a whole body from this one, are served meanwhile
        trickler(server, stack, "127.0.0.3")
        wait_for(lambda: bodies_arriving(server) == 3, WAIT_S)
        assert detect(server).status_code == 200


def from_behind(server: Server, stack: ExitStack, forwarded_for: str) -> socket.socket:
    """A trickler from 127.0.0.2 that says it forwards a request of `forwarded_for`."""
    sock = stack.enter_context(connect(server, "127.0.0.2"))
    header = f"\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n".encode()
    sock.sendall(TRICKLE.replace(b"\r\n\r\n", header))
    return sock


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(tiny_model: TinyModel) -> None:
    untrusted = Settings(model_dir=tiny_model.store.root, max_body_reads_per_client=1)
    with running(untrusted) as server, ExitStack() as stack:
        from_behind(server, stack, "10.0.0.1")
        wait_for(lambda: bodies_arriving(server) == 1, WAIT_S)
        # a client cannot pass for others by naming them: it is 127.0.0.2, over its bound
        assert read_answer(from_behind(server, stack, "10.0.0.2")).startswith("HTTP/1.1 503")

    trusted = untrusted.model_copy(update={"trusted_proxies": ["127.0.0.2"]})
    with running(trusted) as server, ExitStack() as stack:
        from_behind(server, stack, "10.0.0.1")
        from_behind(server, stack, "10.0.0.2")  # two clients behind the proxy
        wait_for(lambda: bodies_arriving(server) == 2, WAIT_S)
        assert set(server.app.state.reception.by_client) == {"10.0.0.1", "10.0.0.2"}


def test_a_body_that_stalls_past_the_body_timeout_gets_a_408_that_closes_the_connection(
    tiny_model: TinyModel,
) -> None:
    settings = Settings(model_dir=tiny_model.store.root, body_timeout_s=0.5)
    with running(settings) as server, connect(server) as sock:
        sock.sendall(TRICKLE)
        answer = read_answer(sock)
        assert answer.startswith("HTTP/1.1 408")
        assert "connection: close" in answer.lower()
        assert '"code":"request_timeout"' in answer
        # what the client sends next is not read as the rest of that body: no answer, closed
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_by_server(sock)
        assert bodies_arriving(server) == 0


def test_a_body_announced_over_the_limit_gets_a_413_that_closes_the_connection(
    tiny_model: TinyModel,
) -> None:
    settings = Settings(model_dir=tiny_model.store.root, max_body_bytes=1000)
    with running(settings) as server, connect(server) as sock:
        sock.sendall(TRICKLE)  # 1914 bytes announced
        answer = read_answer(sock)
        assert answer.startswith("HTTP/1.1 413")
        assert "connection: close" in answer.lower()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_by_server(sock)


def test_an_early_answer_reaches_a_client_that_goes_on_sending_its_body(
    tiny_model: TinyModel,
) -> None:
    settings = Settings(model_dir=tiny_model.store.root, max_body_bytes=1000)
    oversize = b"[" * 4_000_000  # refused from its Content-Length while the client still sends
    with running(settings) as server, httpx.Client(base_url=server.url, timeout=WAIT_S) as http:
        response = http.post(DETECT, content=oversize, headers={"content-type": JSON_TYPE})
        assert_problem(response, 413, "body_too_large")
        assert response.headers["connection"] == "close"
        assert detect(server).status_code == 200


def test_connections_that_send_nothing_or_half_their_headers_are_closed(served: Server) -> None:
    with ExitStack() as stack:
        idle = [stack.enter_context(connect(served)) for _ in range(10)]
        half = [stack.enter_context(connect(served)) for _ in range(10)]
        for sock in half:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0")
        assert all(closed_by_server(sock) for sock in idle + half)


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout(served: Server) -> None:
    request = b"GET /healthz HTTP/1.1\r\n" + b"X-Padding: " + b"a" * 200 + b"\r\n\r\n"
    with connect(served) as sock:
        try:
            for byte in request:  # ~4 s at this pace, far past the 0.5 s header timeout
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while sending
        assert closed_by_server(sock)


def test_half_a_second_request_on_a_kept_alive_connection_is_closed(served: Server) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_answer(sock).startswith("HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHos")
        assert closed_by_server(sock)


def test_one_client_address_holds_no_more_connections_than_its_bound(
    tiny_model: TinyModel,
) -> None:
    # a header timeout longer than the socket's wait: only the bound can close the extra one
    settings = Settings(
        model_dir=tiny_model.store.root, max_connections_per_client=3, header_timeout_s=60
    )
    with running(settings) as server, ExitStack() as stack:
        held = [stack.enter_context(connect(server, "127.0.0.2")) for _ in range(3)]
        assert closed_by_server(stack.enter_context(connect(server, "127.0.0.2")))
        # other addresses are not counted against it, and a freed place can be taken again
        assert detect(server).status_code == 200
        held.pop().close()
        wait_for(lambda: healthz_answered(server, "127.0.0.2"))


def healthz_answered(server: Server, source: str) -> bool:
    """Whether a new connection from `source` is served (False: the server closed it)."""
    with connect(server, source) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(65536).startswith(b"HTTP/1.1 200")  # b"": closed
        except (BrokenPipeError, ConnectionResetError):
            return False
