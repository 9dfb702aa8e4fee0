"""Issue 17's score levers over HTTP: a model trained by `rarewatch train` with the flags is
served by a real uvicorn and scores as `rarewatch score` does, /detect/last included."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.api.schemas import ModelInfo
from app.cli.main import main as cli_main
from app.client import Client
from app.settings import Settings
from tests.app.conftest import running
from tests.conftest import TINY_FEATURES, tiny_frame, with_fault

TRAIN = ["--time-column", "time", "--label-column", "y", "--lookback", "4", "--epochs", "3"]
TRAIN += ["--units", "8,4", "--batch-size", "32", "--seed", "1", "--quiet"]
LEVERS = {
    "standardised": ["--error-standardisation", "mean_square", "--smoothing", "3"],
    "largest": ["--error-standardisation", "max", "--smoothing", "2", "--alarm-after", "2"],
    "held": ["--alarm-after", "2", "--alarm-hold", "5"],
    "pca": ["--pca-member", "--score-on", "last_step", "--smoothing", "2"],
    "ensemble": ["--members", "2", "--smoothing", "2", "--alarm-hold", "3"],
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder with one model per entry of LEVERS, trained through the CLI."""
    folder = tmp_path_factory.mktemp("levers")
    tiny_frame(300).to_csv(folder / "train.csv", index=False)
    for name, flags in LEVERS.items():
        args = ["--model-dir", str(folder / "models"), "train", str(folder / "train.csv")]
        assert cli_main([*args, "--name", name, *TRAIN, *flags]) == 0
    return folder / "models"


@pytest.fixture(scope="module")
def api(models: Path) -> Iterator[Client]:
    with running(Settings(model_dir=models)) as server, Client(server.url) as client:
        yield client


def test_the_flags_are_stored_in_detector_json(models: Path) -> None:
    spec = json.loads((models / "standardised" / "1" / "detector.json").read_text())
    assert spec["error_standard"]["aggregation"] == "mean_square"
    assert len(spec["error_standard"]["spread"]) == len(TINY_FEATURES)
    assert spec["smoothing"] == 3
    assert spec["options"]["error_standardisation"] == "mean_square"
    largest = json.loads((models / "largest" / "1" / "detector.json").read_text())
    assert largest["error_standard"]["aggregation"] == "max"
    assert largest["smoothing"] == 2


@pytest.mark.parametrize(
    ("name", "standardisation", "smoothing"),
    [("standardised", "mean_square", 3), ("largest", "max", 2)],
)
def test_the_model_info_shows_the_stored_levers_over_http_and_in_the_cli(
    name: str,
    standardisation: str,
    smoothing: int,
    api: Client,
    models: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = api.model(name)
    ModelInfo.model_validate(info)
    assert (info["error_standardisation"], info["smoothing"]) == (standardisation, smoothing)

    assert cli_main(["--model-dir", str(models), "models", "--name", name]) == 0
    described = capsys.readouterr().out
    assert f"score: error standardisation {standardisation}, smoothing {smoothing} windows\n" in (
        described
    )


@pytest.mark.parametrize("name", list(LEVERS))
def test_the_api_scores_as_the_cli_with_the_levers(
    name: str, api: Client, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faulty = with_fault(tiny_frame(160, seed=42), 100)
    data = tmp_path / "faulty.csv"
    faulty.to_csv(data, index=False)
    assert cli_main(["--model-dir", str(models), "score", str(data), "--model", name]) == 0
    cli = pd.read_csv(io.StringIO(capsys.readouterr().out)).dropna(subset=["score"])

    answer = api.detect(name, values=faulty[TINY_FEATURES], timestamps=faulty["time"])
    scores = np.array([r["score"] for r in answer["results"]])
    np.testing.assert_allclose(scores, cli["score"], rtol=1e-5)
    assert [r["is_anomaly"] for r in answer["results"]] == cli["is_anomaly"].tolist()
    for feature in TINY_FEATURES:
        shares = [
            next(s["share"] for s in r["top_features"] if s["feature"] == feature)
            for r in answer["results"]
        ]
        np.testing.assert_allclose(shares, cli[f"contrib_{feature}"], rtol=1e-4, atol=1e-9)

    # /detect/last on the rows the newest window needs gives the whole request's last result
    spec = json.loads((models / name / "1" / "detector.json").read_text())
    needed = spec["lookback"] + spec["alarm_after"] - 1 + spec["smoothing"] - 1
    needed += spec["alarm_hold"]
    last = api.detect_last(name, values=faulty[TINY_FEATURES].iloc[-needed:])
    assert last["n_windows"] == 1
    np.testing.assert_allclose(last["results"][0]["score"], scores[-1], rtol=1e-5)
    assert last["results"][0]["is_anomaly"] == answer["results"][-1]["is_anomaly"]


def test_a_held_alarm_is_served_alike_by_detect_and_detect_last(api: Client, models: Path) -> None:
    spec = json.loads((models / "held" / "1" / "detector.json").read_text())
    assert (spec["alarm_after"], spec["alarm_hold"]) == (2, 5)
    assert spec["options"]["alarm_hold"] == 5
    assert api.model("held")["alarm_hold"] == 5
    faulty = with_fault(tiny_frame(160, seed=42), 100)[TINY_FEATURES]
    results = api.detect("held", values=faulty)["results"]
    threshold = spec["threshold"]["value"]
    # held: flagged after the fault's windows, their scores back under the threshold
    assert any(r["is_anomaly"] and r["score"] <= threshold for r in results)
    # the newest window of every prefix, from the rows its answer needs, as in the whole request
    needed = spec["lookback"] + spec["alarm_after"] - 1 + spec["alarm_hold"]
    lookback = spec["lookback"]
    for end in range(96, 130):
        last = api.detect_last("held", values=faulty.iloc[end - needed : end])
        assert last["results"][0]["is_anomaly"] == results[end - lookback]["is_anomaly"], end


def test_a_model_with_the_pca_member_is_described_alike_over_http_and_in_the_cli(
    api: Client, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = json.loads((models / "pca" / "1" / "detector.json").read_text())
    assert spec["options"]["pca_member"] is True
    n_components = len(spec["pca_member"]["components"])
    info = api.model("pca")
    ModelInfo.model_validate(info)
    assert info["pca_member"] == {
        "components": n_components,
        "values": spec["lookback"] * len(TINY_FEATURES),
        "network_median": spec["pca_member"]["network_median"],
        "pca_median": spec["pca_member"]["pca_median"],
    }
    assert api.model("held")["pca_member"] is None

    assert cli_main(["--model-dir", str(models), "models", "--name", "pca"]) == 0
    noun = "component" if n_components == 1 else "components"
    assert f"PCA member: {n_components} {noun} of 12, averaged" in capsys.readouterr().out


def test_a_model_of_several_members_is_described_alike_over_http_and_in_the_cli(
    api: Client, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = json.loads((models / "ensemble" / "1" / "detector.json").read_text())
    assert spec["options"]["network"]["members"] == 2
    medians = spec["member_medians"]
    assert len(medians) == 2
    info = api.model("ensemble")
    ModelInfo.model_validate(info)
    assert info["network"]["members"] == 2
    assert info["member_medians"] == medians
    assert [row["layer"] for row in info["layers"]][-1] == "members"
    held = api.model("held")
    assert (held["network"]["members"], held["member_medians"]) == (1, None)

    assert cli_main(["--model-dir", str(models), "models", "--name", "ensemble"]) == 0
    described = capsys.readouterr().out
    assert "members: 2 autoencoders side by side, each error divided by its median" in described
