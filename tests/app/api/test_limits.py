"""Per-request limits (rows, features, windows) from the settings: 413 limit_exceeded before the
body is validated, naming the limit; a request at the limit and the next normal one are served."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.limits import Limits
from app.settings import Settings
from tests.app.api.test_bad_input import (
    CELL,
    DETECT,
    JSON_TYPE,
    WINDOWS,
    assert_problem,
    body,
    rows,
)
from tests.app.conftest import Server, running
from tests.conftest import TinyModel

MAX_ROWS, MAX_FEATURES, MAX_WINDOWS = 8, 3, 2


@pytest.fixture(scope="module")
def limited(tiny_model: TinyModel) -> Iterator[httpx.Client]:
    settings = Settings(
        model_dir=tiny_model.store.root,
        max_rows=MAX_ROWS,
        max_features=MAX_FEATURES,
        max_windows=MAX_WINDOWS,
    )
    server: Server
    with running(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def post(http: httpx.Client, path: str, content: bytes) -> httpx.Response:
    return http.post(path, content=content, headers={"content-type": JSON_TYPE})


OVER_A_LIMIT = {
    "too many rows": (DETECT, body(values=rows(MAX_ROWS + 1)), "9 rows"),
    "too many timestamps": (
        DETECT,
        body(values=rows(), timestamps=["x"] * (MAX_ROWS + 1)),
        "`timestamps` has 9 rows",
    ),
    "a row too wide": (DETECT, body(values=[*rows(4), [CELL] * 4]), "has 4 values"),
    "too many columns": (
        DETECT,
        body(values=rows(), columns=["a", "b", "c", "d"]),
        "names 4 features",
    ),
    "too many series": (
        DETECT,
        body(series={name: [CELL] * 5 for name in "abcd"}),
        "`series` has 4 features",
    ),
    "a series too long": (
        DETECT,
        body(series={name: [CELL] * (MAX_ROWS + 1) for name in "abc"}),
        "has 9 rows",
    ),
    "too many windows": (WINDOWS, body(windows=[rows(4)] * 3), "holds 3 windows"),
    "a window too long": (WINDOWS, body(windows=[rows(MAX_ROWS + 1)]), "a window has 9 rows"),
    "a window row too wide": (WINDOWS, body(windows=[rows(4, width=4)]), "has 4 values"),
}


@pytest.mark.parametrize(("path", "content", "words"), OVER_A_LIMIT.values(), ids=OVER_A_LIMIT)
def test_a_request_over_a_limit_is_a_413_naming_it_and_the_next_one_is_served(
    limited: httpx.Client, path: str, content: bytes, words: str
) -> None:
    problem = assert_problem(post(limited, path, content), 413, "limit_exceeded")
    assert words in problem["detail"]
    assert "the limit is" in problem["detail"]
    assert post(limited, DETECT, body(values=rows())).status_code == 200


def test_requests_at_the_limits_are_served(limited: httpx.Client) -> None:
    assert post(limited, DETECT, body(values=rows(MAX_ROWS))).status_code == 200
    assert post(limited, WINDOWS, body(windows=[rows(4)] * MAX_WINDOWS)).status_code == 200


def test_the_limits_leave_wrong_types_to_the_schema() -> None:
    limits = Limits(rows=2, features=2, windows=2)
    for odd in ([1, 2, 3], "text", {"values": "abc"}, {"series": [1, 2, 3]}, {"windows": [1, "a"]}):
        limits.check(odd)  # no error: the schema says what is wrong with these


def test_the_default_limits_are_sane() -> None:
    settings = Settings()
    assert (settings.max_rows, settings.max_features, settings.max_windows) == (
        100_000,
        1_000,
        10_000,
    )
