"""The fast path for large rows bodies: it agrees with the ordinary parser or steps aside."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.numeric_body import FAST_PATH_BYTES, KEYS, NumericRows, parse_rows_body
from app.api.responses import top_contributions
from app.api.schemas import DetectRequest
from tests.app.api.test_bad_input import assert_problem
from tests.conftest import TINY_FEATURES, tiny_frame

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


@st.composite
def rows_bodies(draw: st.DrawFn) -> dict[str, Any]:
    n_rows, n_columns = draw(st.integers(1, 6)), draw(st.integers(0, 4))
    body: dict[str, Any] = {
        "values": [[draw(numbers) for _ in range(n_columns)] for _ in range(n_rows)]
    }
    if draw(st.booleans()):
        body["columns"] = draw(st.lists(text, max_size=4))
    if draw(st.booleans()):
        body["timestamps"] = draw(st.lists(text, max_size=4))
    if draw(st.booleans()):
        body["threshold"] = draw(numbers)
    return body


@settings(max_examples=300, deadline=None)
@given(rows_bodies())
def test_the_fast_path_reads_what_orjson_reads(body: dict[str, Any]) -> None:
    encoded = orjson.dumps(body)
    parsed = parse_rows_body(encoded)
    assert parsed is not None  # plain rows of numbers are always the fast path's
    expected = orjson.loads(encoded)
    values = parsed.pop("values")
    assert isinstance(values, NumericRows)
    np.testing.assert_array_equal(
        values.array, np.array(expected.pop("values"), dtype=np.float64).reshape(values.array.shape)
    )
    assert parsed == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"values": [[1, [2]], [3, 4]]}',  # a nested array with the same count of numbers
        b'{"values": [[1], [[2]], 3]}',  # a number where a row should be
        b'{"values": [[1, 2], [3]]}',  # ragged
        b'{"values": [[1, true]]}',
        b'{"values": [[1, null]]}',
        b'{"values": [[1, "2"]]}',
        b'{"values": [[1, 1e400]]}',  # overflows a double
        b'{"values": [[1, NaN]]}',
        b'{"values": [[1, 123456789012345678901234567890]]}',  # past 64 bits: orjson's call
        b'{"values": [[1, 2]], "values": [[3, 4]]}',  # duplicated key
        b'{"values": [[1, 2]], "series": {"a": [1]}}',  # not a rows-only body
        b'{"values": [[1, 2]], "extra": 1}',
        b'{"values": [[1, 2]], "columns": ["\\u005b", "b"]}',  # a bracket as an escape
        b'{"values": [[1, 2]], "columns": [["a"], "b"]}',
        b'{"values": []}',
        b'{"values": {"a": 1}}',
        b"[[1, 2]]",
        b'{"values": [[1, 2]]',  # broken JSON
    ],
)
def test_anything_else_is_left_to_the_ordinary_parser(body: bytes) -> None:
    assert parse_rows_body(body) is None


def large_rows(n_rows: int = 3000) -> dict[str, Any]:
    frame = tiny_frame(n_rows, seed=5)
    body = {"values": frame[TINY_FEATURES].to_numpy().tolist(), "columns": TINY_FEATURES}
    assert len(orjson.dumps(body)) > FAST_PATH_BYTES
    return body


def test_a_large_body_scores_as_the_same_rows_sent_as_series(http: httpx.Client) -> None:
    body = large_rows()
    values = np.array(body["values"])
    series = {f: values[:, j].tolist() for j, f in enumerate(TINY_FEATURES)}
    fast = http.post("/v1/models/tiny/detect", content=orjson.dumps(body), headers=JSON)
    ordinary = http.post("/v1/models/tiny/detect", json={"series": series})
    assert fast.status_code == ordinary.status_code == 200
    assert fast.json() == ordinary.json()


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda rows: rows[1500].append(1.0), 422, "feature_mismatch"),
        (lambda rows: rows[1500].__setitem__(0, [1.0]), 422, "validation_error"),
        (lambda rows: rows[1500].__setitem__(0, True), 422, "validation_error"),
    ],
)
def test_a_large_body_with_a_fault_gets_the_small_bodys_problem(
    http: httpx.Client, change: Any, status: int, code: str
) -> None:
    body = large_rows()
    change(body["values"])
    answer = http.post("/v1/models/tiny/detect", content=orjson.dumps(body), headers=JSON)
    assert_problem(answer, status, code)


def test_a_large_body_with_a_number_too_large_for_a_double_is_refused(
    http: httpx.Client,
) -> None:
    text = orjson.dumps(large_rows()).replace(b"[", b"[1e400,", 2).replace(b"[1e400,", b"[", 1)
    answer = http.post("/v1/models/tiny/detect", content=text, headers=JSON)
    assert_problem(answer, 422, "non_finite_values")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda f: st.lists(
            st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=f, max_size=f),
            min_size=1,
            max_size=6,
        )
    ),
    st.integers(1, 12),  # past MAX_PICKED_ONE_BY_ONE too
)
def test_top_contributions_are_a_stable_sorts_first_k(rows: list[list[float]], k: int) -> None:
    shares = np.array(rows)
    k = min(k, shares.shape[1])
    top, top_shares = top_contributions(shares, k)
    expected = np.argsort(-shares, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(top, expected)
    np.testing.assert_array_equal(top_shares, np.take_along_axis(shares, expected, axis=1))


def test_the_reused_parser_reads_on_after_a_refused_body_and_beside_other_threads() -> None:
    good = orjson.dumps({"values": [[1.0, 2.0], [3.0, 4.0]]})
    assert parse_rows_body(b'{"values": [[1, true]]}') is None
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(parse_rows_body, [good] * 64))
    for parsed in [*answers, parse_rows_body(good)]:
        assert parsed is not None
        np.testing.assert_array_equal(parsed["values"].array, [[1.0, 2.0], [3.0, 4.0]])


def test_the_fast_path_knows_every_rows_field_of_the_request_schema() -> None:
    assert set(KEYS) == set(DetectRequest.model_fields) - {"series"}
