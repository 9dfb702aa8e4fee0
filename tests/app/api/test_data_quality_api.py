"""The data-quality verdict over HTTP: a real uvicorn, the tiny model, rows the tests make."""

from __future__ import annotations

import httpx
import pandas as pd

from tests.app.api.test_metrics_api import scrape, value
from tests.app.api.test_missing_values import DETECT, LAST, WINDOWS, post
from tests.conftest import TINY_FEATURES, TINY_LOOKBACK, TinyModel


def training_rows(tiny_model: TinyModel, n: int = 30) -> tuple[list[list[float]], list[str]]:
    """Rows of the training data itself: inside the training range, one minute apart."""
    part = tiny_model.frame.iloc[100 : 100 + n]
    return part[TINY_FEATURES].to_numpy().tolist(), part["time"].tolist()


def far_out(tiny_model: TinyModel, row: int = 20) -> list[list[float]]:
    """Training rows with feature b at 50 in one row: far above anything seen in training."""
    values, _ = training_rows(tiny_model)
    values[row][1] = 50.0
    return values


def test_rows_like_training_get_a_clean_verdict(http: httpx.Client, tiny_model: TinyModel) -> None:
    values, times = training_rows(tiny_model)
    quality = post(http, DETECT, {"values": values, "timestamps": times})["data_quality"]
    assert quality["ok"] is True
    assert quality["out_of_range"] == []
    assert quality["out_of_range_windows"] == 0
    assert quality["windows"] == 30 - TINY_LOOKBACK + 1
    assert quality["time_steps"]["training_step_seconds"] == 60
    assert quality["time_steps"]["gaps"] == quality["time_steps"]["irregular_steps"] == 0
    assert quality["missing"] == {"cells": 0, "per_feature": {"a": 0, "b": 0, "c": 0}}
    assert quality["filled"] is None
    # 30 values are enough to judge constancy; nothing else is left unjudged
    assert quality["not_judged"] == []


def test_values_far_outside_training_are_named_and_their_windows_flagged_without_alarming(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    answers = {
        threshold: post(http, DETECT, {"values": far_out(tiny_model), "threshold": threshold})
        for threshold in (1e-12, 1e12)
    }
    quality = answers[1e12]["data_quality"]
    assert quality["ok"] is False
    [finding] = quality["out_of_range"]
    assert finding["feature"] == "b"
    assert (finding["worst_row"], finding["first_row"], finding["side"]) == (20, 20, "above")
    assert (finding["rows"], finding["far_rows"]) == (1, 1)
    assert finding["worst_spreads"] > quality["far_spreads"]
    flagged = range(20, 20 + TINY_LOOKBACK)  # the windows holding row 20
    assert quality["out_of_range_windows"] == TINY_LOOKBACK
    for answer in answers.values():
        for result in answer["results"]:
            far = result["index"] in flagged
            assert result["out_of_range"] is far
            assert result["out_of_range_features"] == (["b"] if far else [])
    # the flag is a flag of its own: the alarm is the threshold's alone, either way
    assert all(r["is_anomaly"] for r in answers[1e-12]["results"])
    assert not any(r["is_anomaly"] for r in answers[1e12]["results"])


def test_detect_last_judges_every_row_sent_and_flags_its_one_window(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    answer = post(http, LAST, {"values": far_out(tiny_model, row=28)})
    [result] = answer["results"]
    assert (result["index"], result["out_of_range"]) == (29, True)
    assert result["out_of_range_features"] == ["b"]
    assert answer["data_quality"]["windows"] == answer["data_quality"]["out_of_range_windows"] == 1
    # a value far out in an earlier row is named, though the newest window does not hold it
    earlier = post(http, LAST, {"values": far_out(tiny_model, row=3)})
    assert earlier["data_quality"]["out_of_range"][0]["worst_row"] == 3
    assert earlier["results"][0]["out_of_range"] is False


def test_a_feature_constant_where_training_varied(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    values, _ = training_rows(tiny_model, 40)
    for row in values:
        row[2] = 0.25  # inside c's training range, but stuck
    quality = post(http, DETECT, {"values": values})["data_quality"]
    assert quality["constant_features"] == ["c"]
    assert quality["varied_features"] == []
    assert quality["ok"] is False
    # a dashboard's few rows are too few to call a feature stuck: said, not guessed
    few = post(http, LAST, {"values": values[:TINY_LOOKBACK]})["data_quality"]
    assert few["constant_features"] == []
    assert [n["check"] for n in few["not_judged"]] == ["constant"]


def test_gaps_and_irregular_steps_against_the_training_step(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    values, _ = training_rows(tiny_model)
    seconds = [60 * i for i in range(30)]
    seconds[11:] = [s + 240 for s in seconds[11:]]  # 5 minutes from row 10 to 11: 4 skipped
    seconds[20:] = [s - 30 for s in seconds[20:]]  # 30 s from row 19 to 20
    times = [
        t.strftime("%Y-%m-%dT%H:%M:%SZ")
        for t in pd.to_datetime(seconds, unit="s", utc=True) + pd.Timedelta(days=20000)
    ]
    steps = post(http, DETECT, {"values": values, "timestamps": times})["data_quality"][
        "time_steps"
    ]
    assert steps["training_step_seconds"] == steps["median_step_seconds"] == 60
    assert steps["step_differs"] is False
    assert (steps["gaps"], steps["missing_samples"], steps["first_gap_row"]) == (1, 4, 11)
    assert steps["longest_gap_seconds"] == 300
    assert (steps["irregular_steps"], steps["first_irregular_row"]) == (1, 20)


def test_windows_are_judged_on_their_own_rows_without_time_steps(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    values, _ = training_rows(tiny_model, 3 * TINY_LOOKBACK)
    windows = [values[i : i + TINY_LOOKBACK] for i in range(0, len(values), TINY_LOOKBACK)]
    windows[1][2][0] = -80.0
    answer = post(http, WINDOWS, {"windows": windows})
    assert [r["out_of_range"] for r in answer["results"]] == [False, True, False]
    assert answer["results"][1]["out_of_range_features"] == ["a"]
    quality = answer["data_quality"]
    assert quality["out_of_range"][0]["worst_row"] == TINY_LOOKBACK + 2
    assert quality["out_of_range"][0]["side"] == "below"
    assert quality["time_steps"] is None
    assert "time_steps" in [n["check"] for n in quality["not_judged"]]


def test_missing_cells_and_their_fill_are_in_the_verdict(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    values: list[list[float | None]] = [list(row) for row in training_rows(tiny_model)[0]]
    values[5][0] = None
    values[6][0] = None
    answer = post(http, DETECT, {"values": values})
    quality = answer["data_quality"]
    assert quality["missing"] == {"cells": 2, "per_feature": {"a": 2, "b": 0, "c": 0}}
    assert quality["filled"]["per_feature"] == answer["fill"]["filled_cells"]
    assert quality["ok"] is False


def test_out_of_range_and_gaps_are_counted_in_the_metrics(
    http: httpx.Client, tiny_model: TinyModel
) -> None:
    names = (
        ("rarewatch_windows_out_of_range_total", {"model": "tiny"}),
        ("rarewatch_values_out_of_range_total", {"model": "tiny"}),
        ("rarewatch_timestamp_gaps_total", {"model": "tiny"}),
    )
    before = scrape(http)
    _, times = training_rows(tiny_model)
    times = times[:10] + times[12:] + ["2030-01-01T00:00:00Z", "2030-01-01T00:01:00Z"]
    post(http, DETECT, {"values": far_out(tiny_model), "timestamps": times})
    after = scrape(http)
    grew = [value(after, name, **labels) - value(before, name, **labels) for name, labels in names]
    assert grew == [TINY_LOOKBACK, 1, 2]
