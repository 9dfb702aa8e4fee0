"""The quality benchmark scripts run end to end (quick mode) on small synthetic data laid out like
the real sets, and write well-formed results. Nothing here looks at a score's value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.quality import drift, nab, out_of_range, run_all, skab
from bench.quality.article import article_windows, shuffle_split
from bench.quality.common import REPO, THRESHOLD_RULES, curve_shift

SKAB_SENSORS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]
METRIC_KEYS = {"name", "kind", "precision", "recall", "f1", "roc_auc", "pr_auc", "confusion"}


def sheet_breaks_like(path: Path, n_rows: int = 420, seed: int = 0) -> None:
    """time (M/D/YY H:MM), y with isolated breaks, x1..x61 with x28 categorical, x61 binary."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    times = pd.date_range("1999-05-01", periods=n_rows, freq="2min")
    frame = pd.DataFrame({"time": [f"{d.month}/{d.day}/{d:%y} {d.hour}:{d:%M}" for d in times]})
    breaks = np.zeros(n_rows, dtype=int)
    breaks[np.arange(13, n_rows - 3, 19)] = 1  # never two in a row; some in every part
    frame["y"] = breaks
    for i in range(1, 62):
        frame[f"x{i}"] = np.sin(2 * np.pi * t / (20 + i)) + rng.normal(0, 0.1, n_rows)
    frame["x28"] = rng.integers(0, 8, n_rows).astype(float)
    frame["x61"] = rng.integers(0, 2, n_rows)
    frame.to_csv(path, index=False)


def skab_like(root: Path, seed: int = 0) -> None:
    """valve1/, valve2/, other/ experiments and anomaly-free/anomaly-free.csv, `;`-separated."""
    rng = np.random.default_rng(seed)

    def table(n_rows: int, fault: slice | None) -> pd.DataFrame:
        times = pd.date_range("2020-03-09 10:14:33", periods=n_rows, freq="s")
        frame = pd.DataFrame({"datetime": times.strftime("%Y-%m-%d %H:%M:%S")})
        for k, sensor in enumerate(SKAB_SENSORS):
            frame[sensor] = np.cos(np.arange(n_rows) / (5 + k)) + rng.normal(0, 0.05, n_rows)
        if fault is not None:
            frame.loc[frame.index[fault], "Pressure"] += 3.0
            labels = np.zeros(n_rows)
            labels[fault] = 1.0
            frame["anomaly"] = labels
            frame["changepoint"] = np.r_[0.0, np.diff(labels) != 0].astype(float)
        return frame

    for group, names in (("valve1", ["0", "1"]), ("valve2", ["0"]), ("other", ["1"])):
        (root / group).mkdir(parents=True)
        for name in names:
            table(560, slice(450, 500)).to_csv(root / group / f"{name}.csv", sep=";", index=False)
    (root / "anomaly-free").mkdir()
    table(700, None).to_csv(root / "anomaly-free" / "anomaly-free.csv", sep=";", index=False)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`run_all --quick` on synthetic data: every script once, in its own process."""
    root = tmp_path_factory.mktemp("data")
    (root / "processminer").mkdir()
    sheet_breaks_like(root / "processminer" / "sheet-breaks.csv")
    skab_like(root / "skab")
    nab_like(root / "nab", n_rows=1000)
    doc, results = root / "benchmarks.md", root / "results"
    doc.write_text("# Benchmarks\n\n<!-- perf:start -->\nperformance\n<!-- perf:end -->\n")
    command = [sys.executable, "-m", "bench.quality.run_all", str(root), "--quick"]
    command += ["--doc", str(doc), "--results", str(results)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
    return doc, results


@pytest.mark.parametrize("protocol", ["article", "chronological", "skab", "nab"])
def test_each_protocol_writes_well_formed_rows(quick_run, protocol: str) -> None:
    _, results = quick_run
    result = json.loads((results / "quick-baseline" / f"{protocol}.json").read_text())
    assert result["quick"] is True
    assert result["command"]
    assert result["commit"]
    measured = [row for row in result["rows"] if row["kind"] == "measured"]
    kinds = {row["kind"] for row in result["rows"]}
    assert measured
    assert "trivial" in kinds
    if protocol != "nab":  # NAB has no published figure on this protocol; its references run
        assert "anchor" in kinds
    for row in measured:
        assert row.keys() >= METRIC_KEYS | {"oracle_f1", "own_to_oracle"}
        assert set(row["confusion"]) == {"tn", "fp", "fn", "tp"}
        assert sum(row["confusion"].values()) == row["n_scored"]
    if protocol == "skab":
        own = measured[0]
        bound = own["oracle_within_goal_far"]  # None only if no cut keeps FAR within the goal's
        if bound is not None:
            assert bound["far"] <= skab.GOAL_FAR
            assert bound["f1"] <= own["oracle_f1"] + 1e-12
        assert any(note.startswith(f"{own['name']}: ") for note in result["notes"])
        variant = [row for row in result["variant"]["rows"] if row["kind"] == "measured"]
        free = "rarewatch defaults, trained on anomaly-free.csv"
        assert [row["name"] for row in variant] == [
            free,
            *(f"{free}, {rule.suffix}" for rule in THRESHOLD_RULES),
        ]
        for row in variant:
            assert sum(row["confusion"].values()) == row["n_scored"] == variant[0]["n_scored"]
    if protocol == "nab":
        names = [row["name"] for row in measured]
        assert names[:2] == ["rarewatch defaults", nab.Z_SCORE]
        assert len(names) == 2 + len(THRESHOLD_RULES)
        assert len(measured[0]["per_series"]) == nab.QUICK_SERIES


def test_the_runner_fills_the_quality_section_and_keeps_the_rest(quick_run) -> None:
    doc, _ = quick_run
    text = doc.read_text()
    assert "<!-- perf:start -->\nperformance\n<!-- perf:end -->" in text
    for marker in (*run_all.QUALITY, *run_all.LEVERS):
        assert text.count(marker) == 1
    assert "bench.quality.run_all" in text
    assert "quick mode" in text
    assert "| baseline (defaults) |" in text
    for title in (
        "article's protocol",
        "chronological",
        "SKAB, leaderboard",
        "anomaly-free",
        "NAB, real univariate series (ad exchange, traffic, tweets)",
    ):
        assert title in text
    assert text.count("oracle F1**: best threshold on the test labels: not a result") == 4
    assert "| NAB | F1 " in text


def test_a_lever_row_replaces_the_row_of_the_same_name() -> None:
    text = run_all.update_levers("# B\n", "x", "| x | 1 |\n")
    text = run_all.update_levers(text, "y", "| y | 2 |\n")
    text = run_all.update_levers(text, "x", "| x | 3 |\n")
    body = text.split(run_all.LEVERS[0])[1]
    assert body.count("| x |") == 1
    assert "| x | 3 |" in body
    assert "| y | 2 |" in body


def test_a_lever_row_of_an_earlier_run_gets_dashes_in_the_nab_columns() -> None:
    earlier = "| old | " + " | ".join(str(i) for i in range(10)) + " | `cmd` |\n"
    text = run_all.update_levers(
        f"# B\n{run_all.LEVERS[0]}\n{earlier}{run_all.LEVERS[1]}\n", "x", "| x |\n"
    )
    row = next(line for line in text.splitlines() if line.startswith("| old |"))
    assert row.count("|") == run_all.LEVER_CELLS + 1
    assert row.endswith("| 9 | - | - | - | `cmd` |")


def test_the_split_draws_the_same_indices_as_sklearn() -> None:
    model_selection = pytest.importorskip("sklearn.model_selection")
    indices = np.arange(1003)
    expected_train, expected_test = model_selection.train_test_split(
        indices, test_size=0.2, random_state=123
    )
    train, test = shuffle_split(len(indices), 0.2, 123)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_the_curve_shift_labels_the_two_rows_before_each_event_and_drops_it() -> None:
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1, 0, 1])
    kept, shifted = curve_shift(labels, 2)
    assert kept.sum() == 7
    np.testing.assert_array_equal(shifted, [0, 1, 1, 0, 1, 1, 1])


def test_article_windows_skip_two_rows_and_are_labelled_by_their_last_row() -> None:
    values = np.arange(20, dtype=float)[:, None]
    labels = np.arange(20) % 2
    windows, window_labels = article_windows(values, labels, lookback=5)
    assert len(windows) == 20 - 5 - 1
    np.testing.assert_array_equal(windows[0, :, 0], [2, 3, 4, 5, 6])
    assert window_labels[0] == labels[6]
    assert window_labels[-1] == labels[19]


def article_runs(tmp_path: Path, **changes: object) -> tuple[Any, Any, dict, dict]:
    """(data, options, the article protocol's result with options, with options + changes)
    on a small sheet-breaks-like file: one tiny fit each, the same seed."""
    from bench.quality.article import run_protocol
    from bench.quality.common import sheet_breaks
    from models.spec import NetworkConfig, TrainingOptions

    sheet_breaks_like(tmp_path / "sheet-breaks.csv", n_rows=200)
    data = sheet_breaks(tmp_path / "sheet-breaks.csv")
    assert data.labels is not None
    options = TrainingOptions(epochs=1, batch_size=32, network=NetworkConfig(units=(4, 2)))
    *_, plain = run_protocol(data, data.labels, options)
    *_, changed = run_protocol(data, data.labels, options.changed(**changes))
    return data, options, plain, changed


def test_the_article_protocol_scores_through_the_detector_so_smoothing_applies(
    tmp_path: Path,
) -> None:
    data, options, plain, smooth = article_runs(tmp_path, smoothing=3)

    # the same fit (same data, options and seed): each score the mean of its window's and the
    # two before it, in time order, fewer at the start, as Detector.detect smooths
    scores = plain["ordered"]
    expected = [scores[max(i - 2, 0) : i + 1].mean() for i in range(len(scores))]
    np.testing.assert_allclose(smooth["ordered"], expected, rtol=1e-5)
    assert len(scores) == data.n_rows - options.lookback - 1  # the article's windows


def test_the_article_protocol_fits_the_pca_member_on_its_training_windows(
    tmp_path: Path,
) -> None:
    _, _, plain, member = article_runs(tmp_path, pca_member=True)
    assert np.isfinite(member["ordered"]).all()
    assert not np.allclose(member["ordered"], plain["ordered"])


def test_the_document_can_be_rewritten_from_the_results_without_training(
    quick_run,
    tmp_path: Path,
) -> None:
    _, results = quick_run
    doc = tmp_path / "rewritten.md"
    run_all.main(
        ["unused", "--quick", "--from-results", "--results", str(results), "--doc", str(doc)]
    )
    text = doc.read_text()
    assert "| baseline (defaults) |" in text
    assert "bench.quality.run_all" in text


def nab_like(root: Path, seed: int = 0, n_rows: int = 300) -> None:
    """The traffic series bench.quality.out_of_range reads, and their anomaly windows (one
    near the end of each series, after its probationary rows)."""
    rng = np.random.default_rng(seed)
    windows = {}
    for k, name in enumerate(out_of_range.NAB_SCORED):
        times = pd.date_range("2015-09-01 13:45", periods=n_rows, freq="5min")
        values = 10 * k + np.sin(np.arange(n_rows) / 12) + rng.normal(0, 0.1, n_rows)
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": times, "value": values}).to_csv(
            root / "data" / name, index=False
        )
        windows[name] = [[str(times[n_rows - 50]), str(times[n_rows - 40])]]
    (root / "combined_windows.json").write_text(json.dumps(windows))


def test_the_out_of_range_bench_writes_its_section_and_keeps_the_rest(tmp_path: Path) -> None:
    skab_like(tmp_path / "skab")
    nab_like(tmp_path / "nab")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- perf:start -->\nperformance\n<!-- perf:end -->\n")
    out_of_range.main([str(tmp_path), "--epochs", "1", "--write", str(doc)])
    text = doc.read_text()
    assert "<!-- perf:start -->\nperformance\n<!-- perf:end -->" in text
    for marker in out_of_range.MARKERS:
        assert text.count(marker) == 1
    section = text.split(out_of_range.MARKERS[0])[1]
    assert section.count("\n| SKAB ") == 3
    assert section.count("\n| NAB ") == len(out_of_range.NAB_SCORED)
    assert "- command: `" in section


def test_the_drift_bench_replays_skab_through_refit_and_writes_its_section(
    tmp_path: Path,
) -> None:
    """bench.quality.drift, SKAB part, quick, on two files: the fixed model and the refits (one
    per file, each in its own process through app.watch.refit) on the same rows, and its doc
    section."""
    skab_like(tmp_path / "skab")
    doc, results = tmp_path / "benchmarks.md", tmp_path / "results"
    doc.write_text("# Benchmarks\n\nkept\n")
    command = [sys.executable, "-m", "bench.quality.drift", str(tmp_path), "--only", "skab"]
    command += ["--quick", "--skab-fit-every", "100", "--skab-stride", "2"]
    command += ["--results", str(results), "--doc", str(doc)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=900)
    result = json.loads((results / "skab.json").read_text())
    refit_row, fixed_row = result["rows"][:2]
    assert refit_row["name"] == "refit every 100 rows on the last 400"
    assert "2 of 2 files (every 2nd experiment file)" in refit_row["note"]
    assert "(2 fits in all, 0 failed)" in refit_row["note"]
    assert fixed_row["name"] == "fixed model"
    for row in (refit_row, fixed_row):
        assert row.keys() >= METRIC_KEYS
        assert row["n_scored"] == 2 * 160
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    assert "<!-- drift:begin -->" in text
    assert "refit every 100 rows on the last 400" in text


def test_the_drift_bench_takes_an_offset_several_refits_and_stops_at_its_time_limit(
    tmp_path: Path,
) -> None:
    """bench.quality.drift on SKAB's files from the 2nd, each flags_kept of the watch's refit,
    and a time limit passed by the first file: the table pools that file alone, every model on
    its rows."""
    skab_like(tmp_path / "skab")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "bench.quality.drift", str(tmp_path), "--only", "skab"]
    command += ["--quick", "--skab-fit-every", "100", "--skab-stride", "2", "--skab-offset", "1"]
    command += ["--skab-flags-kept", "until_fit,in_fit_window", "--time-limit", "0.001"]
    command += ["--results", str(results)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=900)
    result = json.loads((results / "skab.json").read_text())
    names = [row["name"] for row in result["rows"]]
    assert names[:3] == [
        "refit every 100 rows on the last 400",
        "refit every 100 rows on the last 400, flags kept in the window",
        "fixed model",
    ]
    until_fit, in_window, fixed = result["rows"][:3]
    for row in (until_fit, in_window):
        assert "1 of 2 files (every 2nd experiment file from the 2nd)" in row["note"]
        assert "(1 fit in all, 0 failed)" in row["note"]
    assert "less those flagged since the fit before" in until_fit["note"]
    assert "less those any version flagged" in in_window["note"]
    for row in (until_fit, in_window, fixed):
        assert row.keys() >= METRIC_KEYS
        assert row["n_scored"] == 160


def test_the_drift_bench_names_its_files_and_stops_before_a_file_would_pass_the_limit() -> None:
    assert drift.Files().note() == ""
    assert drift.Files(stride=2).note() == " (every 2nd experiment file)"
    assert drift.Files(stride=3, offset=1).note() == " (every 3rd experiment file from the 2nd)"
    assert drift.Files(offset=10).note() == " (every experiment file from the 11th)"
    assert [drift.ordinal(n) for n in (1, 11, 12, 13, 21, 22, 104)] == [
        "1st",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "104th",
    ]
    limited = drift.Files(time_limit_s=100)
    assert not limited.out_of_time(0, 500)  # the first file always runs
    assert not limited.out_of_time(2, 60)  # a third at the mean so far ends at 90
    assert limited.out_of_time(2, 70)  # it would end at 105
    assert not drift.Files().out_of_time(5, 1e9)


def test_nab_fits_on_the_probationary_rows_only() -> None:
    assert nab.probation(1000) == 150
    assert nab.probation(15902) == 750  # at most 750
    assert nab.probation(1126) == 168


def test_a_nab_series_is_labelled_inside_its_windows_ends_included(tmp_path: Path) -> None:
    nab_like(tmp_path, n_rows=400)
    name = out_of_range.NAB_SCORED[0]
    windows = json.loads((tmp_path / nab.WINDOWS).read_text())
    data = nab.nab_series(tmp_path, name, windows)
    assert data.features == ["value"]
    assert data.values.shape == (400, 1)
    assert data.labels is not None
    np.testing.assert_array_equal(np.flatnonzero(data.labels), np.arange(350, 361))
    assert nab.series_names(tmp_path) == sorted(out_of_range.NAB_SCORED)


def test_the_z_score_takes_mean_and_spread_from_the_fitted_rows_only() -> None:
    values = np.r_[[1.0, 3.0, 1.0, 3.0], [10.0, 2.0]][:, None]
    np.testing.assert_allclose(nab.z_scores(values, 4), [1, 1, 1, 1, 8, 0])
    np.testing.assert_array_equal(nab.z_scores(np.ones((3, 1)), 2), [0, 0, 0])
