"""RELIABILITY.md's bad-input table, as raw bytes against the real server: each case gets its
documented status and a problem+json body with a stable code, and never an echo of the input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.api.main import create_app
from app.settings import Settings
from models.detector import Detector
from tests.app.conftest import Server, running
from tests.app.faults import NaNEngine
from tests.conftest import TinyModel

DETECT, LAST, WINDOWS = (
    "/v1/models/tiny/detect",
    "/v1/models/tiny/detect/last",
    "/v1/models/tiny/windows",
)
JSON_TYPE = "application/json"
# every number and time sent below carries this mark; no error answer may contain it
MARK = "424242"
CELL = 424242.5
TIME = "2026-01-01T04:24:24"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def rows(n: int = 5, width: int = 3) -> list[list[float]]:
    return [[CELL + i] * width for i in range(n)]


def times(n: int = 5, zone: str = "Z") -> list[str]:
    return [f"{TIME}.{i:06d}{zone}" for i in range(n)]


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def with_cell(text: str) -> bytes:
    """A valid body of 5 rows whose first cell is replaced by `text`, raw."""
    return body(values=rows()).replace(str(CELL).encode(), text.encode(), 1)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_FIELDS
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:rarewatch:problem:{code}"
    assert MARK not in response.text
    assert TIME not in response.text
    return problem


BAD_BODIES = {
    # id: (path, body, status, code, words the detail must contain)
    "NaN literal": (DETECT, with_cell("NaN"), 422, "non_finite_values", ["finite"]),
    "Infinity literal": (DETECT, with_cell("Infinity"), 422, "non_finite_values", ["finite"]),
    "-Infinity literal": (DETECT, with_cell("-Infinity"), 422, "non_finite_values", ["finite"]),
    "1e400": (DETECT, with_cell("1e400"), 422, "non_finite_values", ["finite"]),
    "overflow after scaling": (DETECT, with_cell("1e300"), 422, "non_finite_values", ["float32"]),
    "wrong feature count": (
        DETECT,
        body(values=rows(width=2)),
        422,
        "feature_mismatch",
        ["a, b, c"],
    ),
    "ragged rows": (
        DETECT,
        body(values=[*rows(4), [CELL] * 4]),
        422,
        "feature_mismatch",
        ["row 4", "a, b, c"],
    ),
    "unknown column, strict": (
        DETECT,
        body(values=rows(), columns=["a", "b", "x"], strict=True),
        422,
        "feature_mismatch",
        ["columns[2] is not a model feature", "a, b, c"],
    ),
    "duplicate column": (
        DETECT,
        body(values=rows(), columns=["a", "b", "b"]),
        422,
        "feature_mismatch",
        ["duplicated: 'b'", "a, b, c"],
    ),
    "fewer rows than the lookback": (DETECT, body(values=rows(3)), 422, "not_enough_rows", ["4"]),
    "fewer rows than the lookback, newest window": (
        LAST,
        body(values=rows(3)),
        422,
        "not_enough_rows",
        ["4"],
    ),
    "no rows": (DETECT, body(values=[]), 422, "not_enough_rows", ["4"]),
    "timestamps not increasing": (
        DETECT,
        body(values=rows(), timestamps=times()[::-1]),
        422,
        "invalid_timestamps",
        ["strictly increase"],
    ),
    "duplicated timestamps": (
        DETECT,
        body(values=rows(), timestamps=times(4) + times(4)[-1:]),
        422,
        "invalid_timestamps",
        ["repeats"],
    ),
    "timestamps without a time zone, not increasing": (
        DETECT,
        body(values=rows(), timestamps=times(zone="")[::-1]),
        422,
        "invalid_timestamps",
        ["timestamps[1] is earlier than timestamps[0]"],
    ),
    "one timestamp too few": (
        DETECT,
        body(values=rows(), timestamps=times(4)),
        422,
        "invalid_timestamps",
        ["one timestamp per row"],
    ),
    "a timestamp that is not ISO 8601": (
        DETECT,
        body(values=rows(), timestamps=[*times(4), "yesterday"]),
        422,
        "invalid_timestamps",
        ["ISO 8601"],
    ),
    "values and series at once": (
        DETECT,
        body(values=rows(), series={"a": [CELL]}),
        422,
        "invalid_input",
        ["exactly one"],
    ),
    "neither values nor series": (DETECT, body(timestamps=times()), 422, "invalid_input", []),
    "series of unequal lengths": (
        DETECT,
        body(series={"a": [CELL] * 5, "b": [CELL] * 5, "c": [CELL] * 4}),
        422,
        "invalid_input",
        ["one value per row"],
    ),
    "series with an unknown feature": (
        DETECT,
        body(series={"a": [CELL] * 5, "b": [CELL] * 5, "z": [CELL] * 5}),
        422,
        "feature_mismatch",
        ["missing: 'c'", "a, b, c"],
    ),
    "windows shorter than the lookback": (
        WINDOWS,
        body(windows=[rows(3)]),
        422,
        "invalid_input",
        ["4 (the lookback)"],
    ),
    "windows with the wrong feature count": (
        WINDOWS,
        body(windows=[rows(4, width=2)]),
        422,
        "feature_mismatch",
        ["a, b, c"],
    ),
    "no windows": (WINDOWS, body(windows=[]), 422, "not_enough_rows", []),
    "empty body": (DETECT, b"", 400, "invalid_json", ["empty"]),
    "invalid JSON": (DETECT, body(values=rows())[:-3], 400, "invalid_json", ["not valid JSON"]),
    "invalid UTF-8": (DETECT, b'{"values": [["\xff\xfe"]]}', 400, "invalid_json", ["UTF-8"]),
    "deeply nested JSON": (
        DETECT,
        b'{"values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "invalid_json",
        ["depth"],
    ),
}


@pytest.mark.parametrize(
    ("path", "content", "status", "code", "words"), BAD_BODIES.values(), ids=BAD_BODIES.keys()
)
def test_a_bad_body_gets_its_status_and_code_and_no_echo(
    http: httpx.Client, path: str, content: bytes, status: int, code: str, words: list[str]
) -> None:
    response = http.post(path, content=content, headers={"content-type": JSON_TYPE})
    problem = assert_problem(response, status, code)
    for word in words:
        assert word in str(problem["detail"])


# null is a missing value (tests/app/api/test_missing_values.py), never a coerced number
STRICT_TYPES = {
    "a number as a string": '"1.0"',
    "a boolean": "true",
}


@pytest.mark.parametrize("cell", STRICT_TYPES.values(), ids=STRICT_TYPES.keys())
@pytest.mark.parametrize("path", [DETECT, LAST])
def test_values_must_be_numbers_without_coercion(http: httpx.Client, path: str, cell: str) -> None:
    response = http.post(path, content=with_cell(cell), headers={"content-type": JSON_TYPE})
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"] == [
        {
            "loc": ["body", "values", 0, 0],
            "type": "float_type",
            "msg": "Input should be a valid number",
        }
    ]


def test_a_window_cell_must_be_a_number_too(http: httpx.Client) -> None:
    content = body(windows=[rows(4)]).replace(str(CELL).encode(), b'"1.0"', 1)
    response = http.post(WINDOWS, content=content, headers={"content-type": JSON_TYPE})
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "windows", 0, 0, 0]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"extra": 1}, ["body", "(key 1)"]),  # a key the client chose: its position, not its text
        ({"threshold": 0}, ["body", "threshold"]),
        ({"threshold": -1.0}, ["body", "threshold"]),
        ({"threshold": "0.1"}, ["body", "threshold"]),
        ({"columns": "a,b,c"}, ["body", "columns"]),
    ],
    ids=[
        "an extra field",
        "a zero threshold",
        "a negative threshold",
        "a threshold as text",
        "columns as text",
    ],
)
def test_fields_outside_the_schema_are_refused_with_their_location(
    http: httpx.Client, fields: dict[str, object], loc: list[str]
) -> None:
    response = http.post(
        DETECT, content=body(values=rows(), **fields), headers={"content-type": JSON_TYPE}
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == loc


def test_a_body_that_is_not_an_object_is_refused(http: httpx.Client) -> None:
    response = http.post(DETECT, content=b"[1, 2]", headers={"content-type": JSON_TYPE})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None], ids=str
)
@pytest.mark.parametrize("path", [DETECT, WINDOWS])
def test_a_body_that_is_not_sent_as_json_is_refused_with_415(
    http: httpx.Client, path: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = http.post(path, content=body(values=rows()), headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(http: httpx.Client) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.rarewatch+json"):
        response = http.post(
            DETECT, content=body(values=rows()), headers={"content-type": content_type}
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        (DETECT.replace("tiny", "nope"), "model_not_found", ["'nope'"]),
        (DETECT + "?version=9", "model_not_found", ["no version 9", "versions: 1"]),
        (LAST.replace("tiny", "no%20such"), "model_not_found", ["no model has that name"]),
        ("/v1/models/nope", "model_not_found", ["'nope'"]),
        ("/v1/models/tiny?version=9", "model_not_found", ["no version 9"]),
        ("/v2/elsewhere", "not_found", []),
    ],
)
def test_an_unknown_model_version_or_path_is_a_404(
    http: httpx.Client, path: str, code: str, words: list[str]
) -> None:
    if "/detect" in path:
        response = http.post(path, content=body(values=rows()), headers={"content-type": JSON_TYPE})
    else:
        response = http.get(path)
    problem = assert_problem(response, 404, code)
    for word in words:
        assert word in str(problem["detail"])


# int() reads "1_0" as 10, and " 1", "+1", a full-width or an Arabic-Indic one as 1
NOT_PLAIN_DIGITS = ["1_0", "+1", " 1", "1 ", "1.0", "0x1", "1e0", "\uff11", "\u0661"]


@pytest.mark.parametrize("version", ["abc", "0", "-1", "9" * 12, "9" * 5000, *NOT_PLAIN_DIGITS])
@pytest.mark.parametrize("path", ["/v1/models/tiny", DETECT])
def test_a_version_that_is_not_a_positive_integer_in_plain_digits_is_a_422(
    http: httpx.Client, path: str, version: str
) -> None:
    response = http.request(
        "POST" if path == DETECT else "GET",
        path,
        params={"version": version},
        content=body(values=rows()) if path == DETECT else None,
        headers={"content-type": JSON_TYPE},
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["query", "version"]


def test_a_version_in_plain_digits_is_read_as_written(http: httpx.Client) -> None:
    for version in ("1", "01"):
        assert http.get("/v1/models/tiny", params={"version": version}).json()["version"] == 1


def test_a_wrong_method_is_a_405_problem(http: httpx.Client) -> None:
    assert_problem(http.get(DETECT), 405, "method_not_allowed")


def test_a_large_bad_body_gets_a_short_answer_listing_the_first_errors(http: httpx.Client) -> None:
    content = body(values=[[str(CELL)] * 3 for _ in range(20_000)])  # 60 000 strings, ~1 MB
    response = http.post(DETECT, content=content, headers={"content-type": JSON_TYPE})
    problem = assert_problem(response, 422, "validation_error")
    assert len(problem["errors"]) == 20
    assert "60000 errors" in str(problem["detail"])
    assert len(response.content) < 5_000


# body size ---------------------------------------------------------------------------------

SMALL_LIMIT = 1024


@pytest.fixture(scope="module")
def small_server(tiny_model: TinyModel) -> Iterator[Server]:
    with running(Settings(model_dir=tiny_model.store.root, max_body_bytes=SMALL_LIMIT)) as server:
        yield server


def test_a_body_over_the_limit_is_a_413_before_parsing_and_the_next_request_is_served(
    small_server: Server,
) -> None:
    oversize = b"x" * (SMALL_LIMIT + 1)  # not even JSON: it is refused before it is parsed
    with httpx.Client(base_url=small_server.url) as http:
        response = http.post(DETECT, content=oversize, headers={"content-type": JSON_TYPE})
        problem = assert_problem(response, 413, "body_too_large")
        assert str(SMALL_LIMIT) in str(problem["detail"])

        normal = http.post(DETECT, content=body(values=rows()), headers={"content-type": JSON_TYPE})
        assert normal.status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413_too(small_server: Server) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known while reading
        yield b'{"values": ['
        yield b"[1, 2, 3], " * 200
        yield b"[1, 2, 3]]}"

    with httpx.Client(base_url=small_server.url) as http:
        response = http.post(DETECT, content=chunks(), headers={"content-type": JSON_TYPE})
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "body_too_large")


# a non-finite score is a bug --------------------------------------------------------------


@pytest.mark.anyio
async def test_a_non_finite_score_is_a_500_with_an_error_id_never_a_score(
    tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    spec = tiny_model.store.open("tiny").spec
    app = create_app(Settings(model_dir=tmp_path_factory.mktemp("no-models")))
    async with app.router.lifespan_context(app):
        broken = Detector("broken", 1, spec, NaNEngine(spec.lookback, spec.n_features))
        app.state.registry.add(broken)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            response = await client.post(
                "/v1/models/broken/detect",
                content=body(values=rows()),
                headers={"content-type": JSON_TYPE},
            )
    problem = assert_problem(response, 500, "internal_error")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert isinstance(problem["id"], str)
    assert problem["id"] in str(problem["detail"])
    assert "score" not in problem
