"""The NAB protocol: 23 univariate series, each fitted on its probationary rows, scored after.

    .venv/bin/python -m bench.quality.nab ../shared/data/nab

Per series (data/<folder>/<file>.csv, one column `value`): the first 15 % of the rows, at most
750 (NAB's probationary period), are the only rows a detector fits on or takes a threshold from;
no label is used. Every later row is scored by the window ending on it. Labels: 1 inside the
series' windows of combined_windows.json. Plain point-wise F1 pooled over the series (each
series' scores divided by its own threshold, so 1 is the cut), ROC AUC and PR AUC as the mean
over series, beside a per-series z-score thresholded by rarewatch's own rule, and always-alarm.
Training and scoring are `rarewatch train` / `rarewatch score`'s code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pandas as pd

from bench.quality import common
from models.data import Dataset, read_table, select
from models.hygiene import split_sizes
from models.spec import TrainingOptions
from models.training import choose_threshold

WINDOWS = "combined_windows.json"
PROBATION_SHARE, PROBATION_MOST = 0.15, 750  # NAB's probationary period
QUICK_SERIES = 3
Z_SCORE = "per-series z-score"


def series_names(root: Path) -> list[str]:
    """Every series as combined_windows.json names it: `<folder>/<file>`, in a stable order."""
    return sorted(p.relative_to(root / "data").as_posix() for p in root.glob("data/*/*.csv"))


def nab_series(
    root: Path, name: str, windows: dict[str, list[list[str]]], with_times: bool = True
) -> Dataset:
    """One NAB series, labelled 1 inside its published anomaly windows (ends included); without
    `with_times`, the timestamps only label the rows (the rows stay in file order): four series
    repeat a timestamp, which `rarewatch train` refuses in a time column."""
    frame = read_table(root / "data" / name)
    times = pd.to_datetime(frame["timestamp"])
    labels = np.zeros(len(frame), np.int8)
    for start, end in windows.get(name, []):
        labels[((times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))).to_numpy()] = 1
    frame["label"] = labels
    time_column = "timestamp" if with_times else None
    return select(frame, time_column=time_column, label_column="label", features=["value"])


def probation(n_rows: int) -> int:
    """Rows of NAB's probationary period: 15 % of the series, at most 750."""
    return min(math.floor(PROBATION_SHARE * n_rows), PROBATION_MOST)


def z_scores(values: np.ndarray, n_fit: int) -> np.ndarray:
    """|value - mean| / standard deviation, both of the first n_fit rows (a flat start: 1).

    values  # (n_rows, 1) -> (n_rows,)
    """
    fit = values[:n_fit, 0]
    spread = float(np.nanstd(fit)) or 1.0
    return np.asarray(np.abs(values[:, 0] - np.nanmean(fit)) / spread, dtype=np.float64)


def evaluate_series(
    data: Dataset, options: TrainingOptions
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """One series: the detectors' test scores over their own thresholds (1 is the cut), the
    test labels, and what the series' table line shows.

    Returns ({detector: (n_test,) ratios, or raw scores for the threshold-free rows}, labels, info)
    """
    assert data.labels is not None
    n_fit = probation(data.n_rows)
    fit = common.rows_of(data, slice(0, n_fit), labelled=False)
    detector = common.fitted_detector(fit, options)
    n_train, _ = split_sizes(n_fit, options.validation_fraction)
    # the model's own validation windows: those ending on rows n_train + lookback - 1 .. n_fit - 1
    first_valid = n_train + detector.lookback - 1
    valid = common.scores_for_rows(detector, data.values, first_valid, n_fit)
    test = common.scores_for_rows(detector, data.values, n_fit, data.n_rows)
    rule = detector.spec.alarm_after, detector.spec.alarm_hold
    alarms = common.alarm_scores(np.r_[valid, test], *rule)

    z = common.alarm_scores(z_scores(data.values, n_fit), *rule)
    z_valid = z[first_valid:n_fit]
    z_threshold = choose_threshold(
        z_valid, np.ones(len(z_valid), bool), np.zeros(len(z_valid), np.int8), options
    ).value
    labels = data.labels[n_fit:]
    ordered = np.r_[valid, test]
    ratios = {
        "rarewatch": alarms[len(valid) :] / detector.threshold,
        Z_SCORE: z[n_fit:] / z_threshold,
        **common.rule_ratios(
            ordered,
            np.arange(len(valid)),
            np.ones(len(valid), bool),  # no label is used on the probationary rows
            np.arange(len(valid), len(ordered)),
            detector.threshold,
        ),
    }
    info = {
        "rows": data.n_rows,
        "probation": n_fit,
        "positives": int(labels.sum()),
        "epochs": detector.spec.training.epochs_run,
    }
    return ratios, labels, info


def pooled_row(
    name: str, ratios: list[np.ndarray], labels: list[np.ndarray], note: str
) -> dict[str, Any]:
    """F1 (and its oracle) pooled over the series; ROC AUC and PR AUC: the mean over series."""
    row = common.metric_row(name, np.concatenate(ratios), np.concatenate(labels), 1.0, note)
    per_series = [common.metric_row(name, r, y, 1.0) for r, y in zip(ratios, labels, strict=True)]
    for key in ("roc_auc", "pr_auc"):
        ranked = [s[key] for s in per_series if s[key] is not None]
        row[key] = float(np.mean(ranked)) if ranked else None
    row["per_series"] = [
        {k: s[k] for k in ("f1", "oracle_f1", "roc_auc", "pr_auc")} for s in per_series
    ]
    return row


def series_table(names: list[str], infos: list[dict[str, Any]], rows: list[dict]) -> list[str]:
    """Markdown: one line per series, F1 / oracle F1 / PR AUC of each measured row."""
    head = ["series", "rows", "fit rows", "positive"]
    for row in rows:
        head += [f"{row['name']}: F1", "oracle F1", "PR AUC"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for i, (name, info) in enumerate(zip(names, infos, strict=True)):
        cells = [name, str(info["rows"]), str(info["probation"]), str(info["positives"])]
        for row in rows:
            figures = row["per_series"][i]
            cells += [common.fmt(figures[k]) for k in ("f1", "oracle_f1", "pr_auc")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help=f"the NAB folder (data/, {WINDOWS})")
    common.add_common_arguments(parser)
    args = parser.parse_args(argv)

    result = common.new_result(
        "nab", "NAB, real univariate series (ad exchange, traffic, tweets)", args.data, args.quick
    )
    options = common.bench_options(args)
    windows = json.loads((args.data / WINDOWS).read_text())
    names = series_names(args.data)
    if args.quick:
        names = names[:QUICK_SERIES]
    if not names:
        raise SystemExit(f"{args.data}: no data/<folder>/<series>.csv")

    ratios: dict[str, list[np.ndarray]] = {}
    labels, infos = [], []
    for i, name in enumerate(names):
        common.log(f"nab {i + 1}/{len(names)}: {name}")
        data = common.bench_normalized(
            nab_series(args.data, name, windows, with_times=False), args.rolling_normalization
        )
        series_ratios, series_labels, info = evaluate_series(data, options)
        for detector, values in series_ratios.items():
            ratios.setdefault(detector, []).append(values)
        labels.append(series_labels)
        infos.append(info)

    decision = common.decision_note(
        options.threshold_method, options.threshold_margin, options.alarm_after, options.alarm_hold
    )
    epochs = sorted({info["epochs"] for info in infos})
    rows = [
        pooled_row(
            args.label,
            ratios["rarewatch"],
            labels,
            f"{len(names)} series; per series: trained on its probationary rows (the last "
            f"{options.validation_fraction:.0%} of them validate), threshold {decision} from "
            f"the normal validation windows; epochs run {epochs[0]}-{epochs[-1]}",
        ),
        pooled_row(
            Z_SCORE,
            ratios[Z_SCORE],
            labels,
            "|value - mean| / standard deviation of the probationary rows; threshold by "
            f"rarewatch's rule ({decision}) on the same validation rows",
        ),
    ]
    rows += [
        pooled_row(
            f"{args.label}, {rule.suffix}",
            ratios[rule.suffix],
            labels,
            f"same models; threshold rule candidate: {rule.note}",
        )
        for rule in common.THRESHOLD_RULES
    ]
    all_labels = np.concatenate(labels)
    trivial = common.trivial_rows(all_labels)
    trivial[0]["pr_auc"] = float(np.mean([y.mean() for y in labels]))  # mean over series
    result["rows"] = rows + trivial
    n_windows = sum(len(w) for n, w in windows.items() if n in names)
    result["notes"] += [
        f"{len(all_labels)} test rows over {len(names)} series, {all_labels.mean():.1%} "
        f"anomalous ({n_windows} labelled windows); F1, FAR, MAR and the oracle pooled over "
        "all test rows (scores / each series' own threshold), ROC AUC and PR AUC the mean over "
        "series (always-alarm's PR AUC: the mean positive rate)",
        f"fit rows per series: the first {PROBATION_SHARE:.0%}, at most {PROBATION_MOST} "
        "(NAB's probationary period); no label is used there",
        "the timestamps label the rows and are not given to the model (rows in file order): "
        "four series repeat a timestamp once, which `rarewatch train` refuses in a time column",
    ]
    result["details"] = ["Per series:", "", *series_table(names, infos, rows[:2])]
    result["settings"]["rarewatch"] = options.model_dump(mode="json")
    common.note_bench_options(result, args.rolling_normalization)
    common.finish(result, args.json)


if __name__ == "__main__":
    main()
