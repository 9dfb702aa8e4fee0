"""Missing values, extra columns and timestamps over HTTP: a real uvicorn, the tiny model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from app.api.schemas import DetectResponse
from app.settings import Settings
from models.data import select
from models.errors import InvalidTimestamps
from tests.app.api.test_metrics_api import scrape, value
from tests.app.conftest import running
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame

DETECT, LAST, WINDOWS = (
    f"/v1/models/tiny/{route}" for route in ("detect", "detect/last", "windows")
)
JSON = {"content-type": "application/json"}


def rows(n: int = 30) -> list[list[float | None]]:
    values: list[list[float | None]] = tiny_frame(n, seed=42)[TINY_FEATURES].to_numpy().tolist()
    return values


def post(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    DetectResponse.model_validate(answer)  # every answer here fits the schema
    return answer


def with_gaps() -> list[list[float | None]]:
    """A one-row gap in a (row 5) and a ten-row gap in b (rows 15..24)."""
    values = rows()
    values[5][0] = None
    for r in range(15, 25):
        values[r][1] = None
    return values


def unscored(answer: dict[str, Any]) -> list[int]:
    return [r["index"] for r in answer["results"] if r["score"] is None]


def test_null_in_values_is_filled_or_left_unscored_and_the_answer_says_so(
    http: httpx.Client,
) -> None:
    answer = post(http, DETECT, {"values": with_gaps(), "threshold": 1e-12})
    assert unscored(answer) == list(range(15, 28))  # windows holding rows 15..24 (lookback 4)
    for result in answer["results"]:
        if result["score"] is None:
            assert result["reason"] == "a gap longer than max_gap (3 rows) was not filled"
            assert result["is_anomaly"] is False
            assert result["severity"] is None
            assert result["top_features"] == []
        else:
            assert result["reason"] is None
    shares = {r["index"]: r["filled_share"] for r in answer["results"]}
    assert shares[5] == pytest.approx(1 / 12)
    assert shares[10] == 0
    assert answer["fill"] == {
        "method": "linear",
        "max_gap": 3,
        "filled_cells": {"a": 1, "b": 0, "c": 0},
        "unfilled_cells": {"a": 0, "b": 10, "c": 0},
        "unscored_windows": 13,
    }
    # every scored window alarms at this threshold: the gap ends the event before it
    assert [(e["start_index"], e["end_index"]) for e in answer["events"]] == [(3, 14), (28, 29)]


def test_null_in_series_and_in_windows_too(http: httpx.Client) -> None:
    values = with_gaps()
    series = {f: [row[j] for row in values] for j, f in enumerate(TINY_FEATURES)}
    assert unscored(post(http, DETECT, {"series": series})) == list(range(15, 28))
    last = post(http, LAST, {"series": series, "fill": {"method": "previous", "max_gap": 20}})
    assert last["fill"]["unscored_windows"] == 0
    assert last["fill"]["method"] == "previous"
    windows = [values[3:7], values[15:19]]
    answer = post(http, WINDOWS, {"windows": windows})
    assert [r["score"] is None for r in answer["results"]] == [False, True]
    assert answer["fill"]["filled_cells"] == {"a": 1, "b": 0, "c": 0}


def test_a_fill_in_the_body_overrides_the_models(http: httpx.Client) -> None:
    assert (
        post(http, DETECT, {"values": with_gaps(), "fill": "none"})["fill"]["unscored_windows"]
        == 17
    )
    answer = post(http, DETECT, {"values": with_gaps(), "fill": "fixed:0.5"})
    assert answer["fill"]["method"] == "fixed:0.5"
    assert answer["fill"]["unscored_windows"] == 13


@pytest.mark.parametrize(
    "fill",
    ["spline", "fixed:x", {"method": "linear", "max_gap": -1}, {"method": "zero", "extra": 1}],
)
def test_a_bad_fill_is_a_422_naming_the_choices(http: httpx.Client, fill: object) -> None:
    response = http.post(
        DETECT, content=json.dumps({"values": rows(), "fill": fill}).encode(), headers=JSON
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in {"invalid_input", "validation_error"}


def test_complete_rows_answer_with_nothing_filled(http: httpx.Client) -> None:
    answer = post(http, LAST, {"values": rows(10)})
    assert answer["fill"]["filled_cells"] == {"a": 0, "b": 0, "c": 0}
    assert answer["results"][0]["filled_share"] == 0
    assert answer["results"][0]["reason"] is None
    assert answer["ignored_columns"] == []
    assert answer["notes"] == []


def test_a_large_body_with_null_takes_the_ordinary_path_and_the_same_answer(
    http: httpx.Client,
) -> None:
    values = rows(3000)  # past the fast path's size
    values[1000][2] = None
    body = json.dumps({"values": values}).encode()
    assert len(body) > 64 * 1024
    answer = http.post(DETECT, content=body, headers=JSON).json()
    assert answer["fill"]["filled_cells"]["c"] == 1
    assert answer["fill"]["unscored_windows"] == 0


def test_extra_columns_are_ignored_and_listed_by_position(http: httpx.Client) -> None:
    values = [[*row, 7.0] for row in rows()]
    answer = post(http, DETECT, {"values": values, "columns": ["c", "a", "b", "extra"]})
    assert answer["ignored_columns"] == ["columns[3]"]
    series = {f: [1.0] * 5 for f in [*TINY_FEATURES, "cpu", "mem"]}
    assert post(http, LAST, {"series": series})["ignored_columns"] == [
        "key 3 of series",
        "key 4 of series",
    ]


def test_strict_keeps_the_feature_mismatch(http: httpx.Client) -> None:
    values = [[*row, 7.0] for row in rows()]
    body = {"values": values, "columns": ["a", "b", "c", "extra"], "strict": True}
    response = http.post(DETECT, content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 422
    assert response.json()["code"] == "feature_mismatch"
    assert "columns[3] is not a model feature" in response.json()["detail"]


@pytest.fixture(scope="module")
def strict_server(tiny_model: TinyModel) -> Iterator[httpx.Client]:
    settings = Settings(model_dir=tiny_model.store.root, strict_columns=True)
    with running(settings) as server, httpx.Client(base_url=server.url, timeout=30.0) as http:
        yield http


def test_the_strict_setting_refuses_unless_the_request_says_otherwise(
    strict_server: httpx.Client,
) -> None:
    series = {f: [1.0] * 5 for f in [*TINY_FEATURES, "cpu"]}
    response = strict_server.post(
        LAST, content=json.dumps({"series": series}).encode(), headers=JSON
    )
    assert response.status_code == 422
    assert response.json()["code"] == "feature_mismatch"
    lenient = {"series": series, "strict": False}
    assert post(strict_server, LAST, lenient)["ignored_columns"] == ["key 3 of series"]


def test_fills_and_unscored_windows_are_counted_in_the_metrics(http: httpx.Client) -> None:
    before = scrape(http)
    post(http, DETECT, {"values": with_gaps()})
    after = scrape(http)

    def grew(name: str) -> float:
        return value(after, name, model="tiny") - value(before, name, model="tiny")

    assert grew("rarewatch_cells_filled_total") == 1
    assert grew("rarewatch_cells_unfilled_total") == 10
    assert grew("rarewatch_windows_unscored_total") == 13
    assert grew("rarewatch_windows_scored_total") == 27 - 13


TIMESTAMP_CASES = {
    "zoned": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00+00:00"],
    "without a zone": ["2026-01-01T00:00:00", "2026-01-01T00:01:00"],
    "a space for the T": ["2026-01-01 00:00:00", "2026-01-01 00:01:00"],
    "repeated": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00"],
    "out of order": ["2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"],
    "not a time": ["2026-01-01T00:00:00Z", "soon"],
}


@pytest.mark.parametrize("pair", TIMESTAMP_CASES.values(), ids=TIMESTAMP_CASES.keys())
def test_the_cli_and_the_api_read_the_same_timestamps_the_same_way(
    http: httpx.Client, pair: list[str]
) -> None:
    """The last two of six rows carry the pair; the verdict (refused, or accepted with the same
    notes) is the same both ways."""
    times = [f"2025-12-31T23:5{i}:00Z" for i in range(4)] + pair
    response = http.post(
        DETECT, content=json.dumps({"values": rows(6), "timestamps": times}).encode(), headers=JSON
    )
    frame = pd.DataFrame(np.array(rows(6)), columns=TINY_FEATURES).assign(time=times)
    try:
        cli_notes: list[str] | None = list(select(frame, time_column="time").notes)
    except InvalidTimestamps:
        cli_notes = None
    if response.status_code == 422:
        assert response.json()["code"] == "invalid_timestamps"
        assert cli_notes is None
    else:
        assert response.status_code == 200, response.text
        assert response.json()["notes"] == cli_notes
