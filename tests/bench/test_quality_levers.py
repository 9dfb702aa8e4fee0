"""The bench-only levers: rolling normalization and SKAB's threshold from all training rows;
the threshold rules' hold, the product's. Nothing here looks at a score's value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.quality.common import REPO, ROLLING_FLOOR, ROLLING_MIN_HISTORY, rolling_normalize
from models.data import select
from models.detector import Detector
from models.training import train_detector
from tests.bench.test_quality_scripts import nab_like, sheet_breaks_like, skab_like
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, TinyModel, tiny_frame, with_fault


def test_each_row_is_scaled_by_the_rows_before_it() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, (60, 3))
    out = rolling_normalize(values, span=10)
    before = values[30:40]
    expected = (values[40] - before.mean(axis=0)) / before.std(axis=0)
    np.testing.assert_allclose(out[40], expected)
    np.testing.assert_array_equal(out[:ROLLING_MIN_HISTORY], 0.0)  # too few rows before them
    assert np.all(out[ROLLING_MIN_HISTORY:] != 0.0)


def test_a_row_never_depends_on_the_rows_after_it() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 1.0, (50, 2))
    changed = values.copy()
    changed[30:] += 100.0
    np.testing.assert_array_equal(
        rolling_normalize(values, 10)[:30], rolling_normalize(changed, 10)[:30]
    )


def test_a_flat_stretch_divides_by_a_fraction_of_the_long_run_spread() -> None:
    values = np.r_[np.arange(20.0), np.full(20, 19.0), [29.0]][:, None]
    out = rolling_normalize(values, span=10)
    assert np.all(np.isfinite(out))
    long_run = values[:40].std()
    np.testing.assert_allclose(out[40, 0], 10.0 / (ROLLING_FLOOR * long_run))
    constant = rolling_normalize(np.ones((30, 1)), span=10)
    np.testing.assert_array_equal(constant, 0.0)


def test_the_runner_passes_the_bench_levers_to_every_protocol(tmp_path: Path) -> None:
    (tmp_path / "processminer").mkdir()
    sheet_breaks_like(tmp_path / "processminer" / "sheet-breaks.csv")
    skab_like(tmp_path / "skab")
    nab_like(tmp_path / "nab", n_rows=1000)
    doc, results = tmp_path / "benchmarks.md", tmp_path / "results"
    command = [sys.executable, "-m", "bench.quality.run_all", str(tmp_path), "--quick"]
    command += ["--doc", str(doc), "--results", str(results), "--no-baselines"]
    command += ["--lever", "levers", "--rolling-normalization", "20"]
    command += ["--skab-threshold-from", "training"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
    for protocol in ("article", "chronological", "skab", "nab"):
        result = json.loads((results / "quick-levers" / f"{protocol}.json").read_text())
        assert result["settings"]["rolling_normalization"] == 20
        assert "--rolling-normalization=20" in result["command"]
    skab = json.loads((results / "quick-levers" / "skab.json").read_text())
    assert skab["settings"]["threshold_from"] == "training"
    assert "all 400 training rows" in skab["rows"][0]["note"]
    assert "| levers |" in doc.read_text()


def test_set_changes_options_through_the_training_options_model() -> None:
    from bench.quality.common import with_settings
    from models.spec import Activation, TrainingOptions

    options = with_settings(
        TrainingOptions(), ["units=32,8", "network.activation=relu", "epochs=3"]
    )
    assert options.network.units == (32, 8)
    assert options.network.activation is Activation.RELU
    assert options.epochs == 3
    assert options.model_dump(exclude={"network", "epochs"}) == TrainingOptions().model_dump(
        exclude={"network", "epochs"}
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [("epoch=3", "unknown option; known: activation"), ("epochs=0", "epochs: Input should be")],
)
def test_set_refuses_unknown_and_impossible_options(setting: str, message: str) -> None:
    from bench.quality.common import with_settings
    from models.spec import TrainingOptions

    with pytest.raises(SystemExit, match=message):
        with_settings(TrainingOptions(), [setting])


def test_a_held_alarm_merges_fragments_closer_than_the_hold() -> None:
    from bench.quality.common import held_scores

    scores = np.zeros(30)
    scores[[5, 12]] = 2.0  # two fragments 7 windows apart: one event with a hold of 10
    alarms = held_scores(scores, 10) > 1.0
    np.testing.assert_array_equal(np.flatnonzero(alarms), np.arange(5, 22))
    changed = scores.copy()
    changed[20:] = 50.0
    np.testing.assert_array_equal(held_scores(scores, 10)[:20], held_scores(changed, 10)[:20])


def test_every_threshold_rule_cuts_at_one_on_the_test_part() -> None:
    from bench.quality.common import THRESHOLD_RULES, rule_ratios, rule_rows

    rng = np.random.default_rng(2)
    ordered = rng.gamma(2.0, 1.0, 400)
    labels = np.zeros(300, np.int8)
    labels[150:170] = 1
    ordered[250:270] += 6.0  # the labelled stretch of the test part
    validation, test = np.arange(100), np.arange(100, 400)
    ratios = rule_ratios(ordered, validation, np.ones(100, bool), test, own_threshold=5.0)
    assert set(ratios) == {rule.suffix for rule in THRESHOLD_RULES}
    assert all(r.shape == (300,) for r in ratios.values())
    np.testing.assert_allclose(
        ratios["rule: quantile 0.95"], ordered[test] / np.quantile(ordered[validation], 0.95)
    )
    rows = rule_rows("m", [ratios, ratios], [labels, labels])
    assert [row["name"] for row in rows] == [f"m, {rule.suffix}" for rule in THRESHOLD_RULES]
    assert all(row["n_scored"] == 600 and row["oracle_f1"] is not None for row in rows)


def test_every_protocol_reads_its_options_alike_and_quick_mode_caps_the_epochs() -> None:
    import argparse

    from bench.quality.common import QUICK_EPOCHS, add_common_arguments, bench_options

    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    options = bench_options(parser.parse_args(["--set", "smoothing=3", "--set", "epochs=9"]))
    assert (options.smoothing, options.epochs) == (3, 9)
    quick = bench_options(parser.parse_args(["--quick", "--set", "smoothing=3"]))
    assert (quick.smoothing, quick.epochs) == (3, QUICK_EPOCHS)
    member = bench_options(parser.parse_args(["--set", "pca_member=true"]))
    assert member.pca_member is True


@given(
    arrays(np.float64, st.integers(0, 40), elements=st.floats(0, 10) | st.just(np.nan)),
    st.integers(1, 12),
)
def test_the_bench_hold_ranks_as_its_rolling_maximum_did(scores: np.ndarray, windows: int) -> None:
    import pandas as pd

    from bench.quality.common import held_scores

    rolling = pd.Series(scores).rolling(windows, min_periods=1).max().to_numpy()
    np.testing.assert_array_equal(held_scores(scores, windows), rolling)


def test_the_bench_rule_3_in_a_row_hold_10_flags_as_the_detector_trained_with_it(
    tiny_model: TinyModel,
) -> None:
    from bench.quality.common import HOLD_WINDOWS, SUSTAIN_WINDOWS, rule_ratios

    data = select(tiny_model.frame, time_column="time", label_column="y")
    options = TINY_OPTIONS.changed(
        epochs=2, alarm_after=SUSTAIN_WINDOWS, alarm_hold=HOLD_WINDOWS - 1
    )
    detector = Detector.from_trained(train_detector(data, options), "held")
    frame = with_fault(with_fault(tiny_frame(160, seed=42), 70), 88)
    detection = detector.detect(frame[TINY_FEATURES].to_numpy())
    scores, threshold = detection.scores, detector.threshold
    # the bench keeps the first windows' own scores where the product raises nothing: none here
    assert not (scores[: SUSTAIN_WINDOWS - 1] > threshold).any()
    everything = np.arange(len(scores))
    ratios = rule_ratios(scores, everything, np.ones(len(scores), bool), everything, threshold)
    rule = ratios[f"rule: {SUSTAIN_WINDOWS} in a row, hold {HOLD_WINDOWS}"]
    np.testing.assert_array_equal(rule > 1.0, detection.is_anomaly)
    assert (detection.is_anomaly & (scores <= threshold)).any(), "the hold is exercised"


@given(
    arrays(np.float64, st.integers(0, 40), elements=st.floats(0, 10)),
    st.integers(1, 4),
    st.integers(0, 6),
    st.floats(0, 10),
)
def test_the_benches_alarm_scores_decide_as_the_products_rule(
    scores: np.ndarray, after: int, hold: int, threshold: float
) -> None:
    from bench.quality.common import alarm_scores
    from models.thresholds import alarm_rule

    # the bench keeps the first after - 1 windows' own scores, where the product raises nothing
    scores[: after - 1] = 0.0
    np.testing.assert_array_equal(
        alarm_scores(scores, after, hold) > threshold, alarm_rule(scores > threshold, after, hold)
    )


def test_a_protocol_run_with_a_hold_says_so_in_its_rows(tmp_path: Path) -> None:
    from bench.quality import nab

    nab_like(tmp_path / "nab", n_rows=400)
    out = tmp_path / "nab.json"
    nab.main([str(tmp_path / "nab"), "--quick", "--set", "alarm_hold=3", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert "held 3 windows after" in rows[0]["note"]
    assert "held 3 windows after" in rows[1]["note"]  # the z-score is cut by the same rule
