"""Detection over HTTP, end to end: a real uvicorn, the session's tiny model, the Python client."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.api.schemas import DetectResponse
from app.cli.main import main as cli_main
from app.client import Client
from models.windows import temporalize
from tests.conftest import (
    FAULT_FEATURE,
    TINY_FEATURES,
    TINY_LOOKBACK,
    TinyModel,
    tiny_frame,
    with_fault,
)

FAULT_AT, FAULT_LENGTH = 100, 6


def fresh(n_rows: int = 200, fault: bool = False) -> pd.DataFrame:
    """Data the model has not seen (another noise seed), optionally with the fault on c."""
    frame = tiny_frame(n_rows, seed=42)
    return with_fault(frame, FAULT_AT, FAULT_LENGTH) if fault else frame


def scores(answer: dict[str, Any]) -> np.ndarray:
    return np.array([r["score"] for r in answer["results"]])


def test_an_injected_fault_is_flagged_and_c_named_while_normal_rows_stay_unflagged(
    api: Client,
) -> None:
    faulty = fresh(fault=True)
    answer = api.detect("tiny", values=faulty[TINY_FEATURES], timestamps=faulty["time"])

    event = max(answer["events"], key=lambda e: e["peak_score"])
    fault_rows = range(FAULT_AT, FAULT_AT + FAULT_LENGTH + TINY_LOOKBACK - 1)
    assert event["peak_index"] in fault_rows
    assert event["top_feature"] == FAULT_FEATURE
    assert event["peak_timestamp"] == faulty["time"][event["peak_index"]]
    peak = answer["results"][event["peak_index"] - (TINY_LOOKBACK - 1)]
    assert peak["is_anomaly"]
    assert peak["severity"] > 0.9
    assert peak["top_features"][0]["feature"] == FAULT_FEATURE

    normal = api.detect("tiny", values=fresh()[TINY_FEATURES])
    flagged = [r for r in normal["results"] if r["is_anomaly"]]
    # a 0.99-quantile threshold lets about 1 % of normal windows through, each barely over it
    assert len(flagged) < 0.05 * len(normal["results"])
    assert all(r["severity"] < 0.5 for r in flagged)
    assert all(r["severity"] == 0 for r in normal["results"] if not r["is_anomaly"])


def test_the_api_scores_equal_the_cli_score_output(
    api: Client, tiny_model: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faulty = fresh(fault=True)
    data = tmp_path / "faulty.csv"
    faulty.to_csv(data, index=False)
    root = str(tiny_model.store.root)
    assert cli_main(["--model-dir", root, "score", str(data), "--model", "tiny"]) == 0
    cli = pd.read_csv(io.StringIO(capsys.readouterr().out))

    answer = api.detect("tiny", values=faulty[TINY_FEATURES], timestamps=faulty["time"])

    scored = cli.dropna(subset=["score"])
    assert [r["index"] for r in answer["results"]] == scored.index.tolist()
    np.testing.assert_allclose(scores(answer), scored["score"], rtol=1e-5)
    assert [r["is_anomaly"] for r in answer["results"]] == scored["is_anomaly"].tolist()
    shares: dict[str, list[float]] = {f: [] for f in TINY_FEATURES}
    for result in answer["results"]:
        listed = {s["feature"]: s["share"] for s in result["top_features"]}
        for feature in TINY_FEATURES:  # the tiny model has 3 features: all of them are listed
            shares[feature].append(listed[feature])
    for feature in TINY_FEATURES:
        np.testing.assert_allclose(shares[feature], scored[f"contrib_{feature}"], rtol=1e-4)


def test_detect_last_scores_only_the_newest_window_as_detect_does(api: Client) -> None:
    faulty = fresh(FAULT_AT + 3, fault=True)  # the series ends inside the fault
    whole = api.detect("tiny", values=faulty[TINY_FEATURES], timestamps=faulty["time"])
    last = api.detect_last("tiny", values=faulty[TINY_FEATURES], timestamps=faulty["time"])

    assert last["n_windows"] == 1
    assert last["results"][0]["index"] == len(faulty) - 1
    assert last["results"][0]["timestamp"] == faulty["time"].iloc[-1]
    assert last["results"][0]["is_anomaly"]
    np.testing.assert_allclose(
        last["results"][0]["score"], whole["results"][-1]["score"], rtol=1e-5
    )


def test_windows_are_scored_one_result_each_as_the_series_they_came_from(api: Client) -> None:
    values = fresh(40, fault=False)[TINY_FEATURES].to_numpy()
    windows = temporalize(values, TINY_LOOKBACK)  # (37, 4, 3)

    answer = api.detect_windows("tiny", windows)

    assert answer["n_windows"] == len(windows)
    assert [r["index"] for r in answer["results"]] == list(range(len(windows)))
    assert all(r["timestamp"] is None for r in answer["results"])
    np.testing.assert_allclose(scores(answer), scores(api.detect("tiny", values=values)), rtol=1e-5)


def test_columns_in_another_order_are_put_in_the_models_order(api: Client) -> None:
    frame = fresh(30, fault=False)
    in_order = api.detect("tiny", values=frame[TINY_FEATURES].to_numpy())
    shuffled = ["c", "a", "b"]
    reordered = api.detect("tiny", values=frame[shuffled].to_numpy(), columns=shuffled)
    windows = temporalize(frame[shuffled].to_numpy(), TINY_LOOKBACK)
    reordered_windows = api.detect_windows("tiny", windows, columns=shuffled)

    np.testing.assert_allclose(scores(reordered), scores(in_order), rtol=1e-6)
    np.testing.assert_allclose(scores(reordered_windows), scores(in_order), rtol=1e-5)


def test_series_in_columns_score_as_the_same_rows(api: Client) -> None:
    frame = fresh(30, fault=True)
    series = {f: frame[f].tolist() for f in reversed(TINY_FEATURES)}
    as_series = api.detect("tiny", series=series, timestamps=frame["time"])
    as_rows = api.detect("tiny", values=frame[TINY_FEATURES], timestamps=frame["time"])

    assert as_series == as_rows


def test_a_threshold_override_applies_to_that_request_only(api: Client) -> None:
    values = fresh(30, fault=False)[TINY_FEATURES]
    model_threshold = api.model("tiny")["threshold"]["value"]

    strict = api.detect("tiny", values=values, threshold=1e-9)
    default = api.detect("tiny", values=values)

    assert strict["threshold"] == 1e-9
    assert strict["model"]["threshold"] == model_threshold
    assert all(r["is_anomaly"] for r in strict["results"])
    assert default["threshold"] == model_threshold


def test_an_event_is_a_run_of_anomalous_windows_with_its_peak_and_top_feature(
    api: Client,
) -> None:
    faulty = fresh(fault=True)
    answer = api.detect("tiny", values=faulty[TINY_FEATURES], timestamps=faulty["time"])
    flagged = [r["index"] for r in answer["results"] if r["is_anomaly"]]

    covered = []
    for event in answer["events"]:
        run = list(range(event["start_index"], event["end_index"] + 1))
        assert len(run) == event["n_windows"]
        covered += run
        in_run = [r for r in answer["results"] if r["index"] in run]
        assert event["peak_score"] == max(r["score"] for r in in_run)
        assert event["start_timestamp"] == faulty["time"][event["start_index"]]
    assert covered == flagged


def test_severity_is_zero_up_to_the_threshold_and_grows_with_the_score(api: Client) -> None:
    results = api.detect("tiny", values=fresh(fault=True)[TINY_FEATURES])["results"]
    threshold = api.model("tiny")["threshold"]["value"]

    for result in results:
        assert 0 <= result["severity"] <= 1
        assert (result["severity"] > 0) == (result["score"] > threshold)
    by_score = sorted(results, key=lambda r: r["score"])
    severities = [r["severity"] for r in by_score]
    assert severities == sorted(severities)


def test_each_windows_top_features_are_its_largest_shares_largest_first(api: Client) -> None:
    for result in api.detect("tiny", values=fresh(30, fault=True)[TINY_FEATURES])["results"]:
        shares = [s["share"] for s in result["top_features"]]
        assert shares == sorted(shares, reverse=True)
        assert sum(shares) == pytest.approx(1.0)  # all 3 features are listed


def test_detection_answers_match_the_documented_schema(api: Client) -> None:
    frame = fresh(40, fault=True)
    for answer in (
        api.detect("tiny", values=frame[TINY_FEATURES], timestamps=frame["time"]),
        api.detect_last("tiny", values=frame[TINY_FEATURES]),
        api.detect_windows("tiny", temporalize(frame[TINY_FEATURES].to_numpy(), TINY_LOOKBACK)),
    ):
        DetectResponse.model_validate(answer)


def test_the_engine_setting_serves_the_same_scores_with_tensorflow(
    tiny_model: TinyModel, api: Client
) -> None:
    from app.settings import Settings
    from tests.app.conftest import running

    values = with_fault(tiny_frame(60, seed=9), 30)[TINY_FEATURES].to_numpy().tolist()
    default = api.detect("tiny", values=values)
    with running(Settings(model_dir=tiny_model.store.root, engine="tensorflow")) as server:
        assert server.app.state.registry.newest("tiny").engine.name == "tensorflow"
        with Client(server.url) as client:
            forced = client.detect("tiny", values=values)
    assert [r["is_anomaly"] for r in forced["results"]] == [
        r["is_anomaly"] for r in default["results"]
    ]
    for a, b in zip(forced["results"], default["results"], strict=True):
        assert a["score"] == pytest.approx(b["score"], rel=1e-4, abs=1e-7)
