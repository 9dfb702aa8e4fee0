"""The server's HTTP protocol (app/api/http_protocol.py): bodies past its read-ahead, and requests
pipelined behind one another, still arrive whole and in order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import numpy as np
import orjson
import pytest

from app.api.http_protocol import BODY_READ_AHEAD_BYTES
from app.settings import Settings
from models.loading import load_detector
from tests.app.conftest import running
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame

DETECT = "/v1/models/tiny/detect"


@pytest.fixture
def server(tiny_model: TinyModel) -> Iterator[tuple[str, int]]:
    """rarewatch served as `rarewatch serve` serves it (its protocol), in a thread."""
    settings = Settings(model_dir=tiny_model.store.root, max_body_bytes=64 * 1024 * 1024)
    with running(settings) as served:
        address = urlsplit(served.url)
        assert address.hostname
        assert address.port
        yield address.hostname, address.port


def post(path: str, content: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


def read_answers(connection: socket.socket, n: int) -> list[tuple[int, dict]]:
    """n HTTP/1.1 answers with a Content-Length, in the order they arrive."""
    stream = connection.makefile("rb")
    answers = []
    for _ in range(n):
        status = int(stream.readline().split()[1])
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        answers.append((status, orjson.loads(stream.read(length))))
    return answers


def test_bodies_past_the_read_ahead_and_pipelined_ones_arrive_whole(
    server: tuple[str, int], tiny_model: TinyModel
) -> None:
    large = tiny_frame(60_000, seed=3)[TINY_FEATURES].to_numpy()
    small = tiny_frame(30, seed=4)[TINY_FEATURES].to_numpy()
    large_body = orjson.dumps({"values": large.tolist()})
    assert len(large_body) > 2 * BODY_READ_AHEAD_BYTES
    detector = load_detector(tiny_model.store, "tiny")

    with socket.create_connection(server, timeout=60) as connection:
        # three requests in one write: the large one, then two pipelined behind it
        small_body = orjson.dumps({"values": small.tolist()})
        connection.sendall(
            post(DETECT, large_body) + post(DETECT, small_body) + post(DETECT, large_body)
        )
        answers = read_answers(connection, 3)

    assert [status for status, _ in answers] == [200, 200, 200]
    for (_, answer), values in zip(answers, (large, small, large), strict=True):
        expected = detector.detect(values).scores
        assert answer["n_windows"] == len(expected)
        np.testing.assert_array_equal([r["score"] for r in answer["results"]], expected)
