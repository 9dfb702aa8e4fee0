"""The honest protocol on the sheet-break data: 60/20/20 chronological, threshold from validation.

    .venv/bin/python -m bench.quality.chronological ../shared/data/processminer/sheet-breaks.csv

Same curve shift (-2) and features as the article. The first 60 % of rows train (normal windows
only), the next 20 % validate (early stopping and the threshold; labels allowed there), the last
20 % test. Training and scoring are `rarewatch train` / `rarewatch score`'s code:
models.training.train_detector, Detector.from_trained (the engine the service would load),
Detector.detect.
Every test row is scored by the window ending on it (the rows before it give the context).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from bench.quality import common
from models.data import Dataset
from models.detector import Detector
from models.spec import TrainingOptions
from models.thresholds import ThresholdMethod, max_f1_threshold

TRAIN, VALIDATION = 0.6, 0.2


def split_rows(n_rows: int) -> tuple[int, int]:
    """(n_train, n_fit): rows [0, n_train) train, [n_train, n_fit) validate, the rest test."""
    n_fit = round(n_rows * (TRAIN + VALIDATION))
    n_validation = round(n_fit * VALIDATION / (TRAIN + VALIDATION))
    return n_fit - n_validation, n_fit


def evaluate_model(
    data: Dataset,
    options: TrainingOptions,
    label: str,
    n_train: int,
    n_fit: int,
    rules: bool = True,
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Train on rows [0, n_fit) (validation = rows [n_train, n_fit)), test on rows [n_fit, end);
    with `rules`, a row per threshold-rule candidate too."""
    fit_part = common.rows_of(data, slice(0, n_fit))
    detector = common.fitted_detector(fit_part, options)
    return evaluate_detector(detector, data, options, label, n_train, n_fit, rules)


def evaluate_detector(
    detector: Detector,
    data: Dataset,
    options: TrainingOptions,
    label: str,
    n_train: int,
    n_fit: int,
    rules: bool = True,
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """evaluate_model's rows for a detector already trained on rows [0, n_fit)."""
    labels = data.labels
    assert labels is not None
    test_scores = common.scores_for_rows(detector, data.values, n_fit, data.n_rows)
    test_labels = labels[n_fit:]
    valid_scores = common.scores_for_rows(detector, data.values, n_train, n_fit)
    valid_labels = labels[n_train:n_fit]
    spec = detector.spec
    # the product's alarm rule (alarm_after, alarm_hold) over the validation and test windows in
    # time order
    alarms = common.alarm_scores(
        np.r_[valid_scores, test_scores], spec.alarm_after, spec.alarm_hold
    )
    rows = [
        common.metric_row(
            label,
            alarms[len(valid_scores) :],
            test_labels,
            detector.threshold,
            "threshold "
            + common.decision_note(
                spec.threshold.method, spec.threshold.margin, spec.alarm_after, spec.alarm_hold
            )
            + f" from the validation part; {spec.training.epochs_run} epochs run "
            f"(best {spec.training.best_epoch}), "
            f"train loss {spec.training.train_loss:.3g}, "
            f"validation loss {spec.training.validation_loss:.3g}",
        )
    ]
    rows.append(common.pot_row(label, test_scores, test_labels, valid_scores[valid_labels == 0]))
    n_valid = n_fit - n_train
    rows += common.rescored_rows(
        label,
        np.r_[valid_scores, test_scores],
        np.arange(n_valid),
        valid_labels == 0,
        np.arange(n_valid, n_valid + len(test_scores)),
        test_labels,
        options.threshold_quantile,
    )
    if rules:
        ordered = np.r_[valid_scores, test_scores]
        test = np.arange(n_valid, len(ordered))
        ratios = common.rule_ratios(
            ordered, np.arange(n_valid), valid_labels == 0, test, detector.threshold
        )
        rows += common.rule_rows(label, [ratios], [test_labels])
    if spec.threshold.method is not ThresholdMethod.MAX_F1:
        rows.append(
            common.metric_row(
                f"{label}, max-F1 threshold on validation",
                test_scores,
                test_labels,
                max_f1_threshold(valid_scores, valid_labels),
                "same model; threshold maximising F1 on the labelled validation part",
            )
        )
    return rows, test_scores, test_labels


def main(argv: list[str] | None = None) -> None:
    from bench.quality.article import ARTICLE_THRESHOLD, article_options

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="sheet-breaks.csv")
    common.add_common_arguments(parser)
    parser.add_argument(
        "--article-epochs", type=int, default=50, help="most epochs of the article baseline"
    )
    parser.add_argument("--no-article-baseline", action="store_true", help="skip the baseline")
    args = parser.parse_args(argv)

    result = common.new_result(
        "chronological", "Sheet breaks, chronological 60/20/20 protocol", args.data, args.quick
    )
    data = common.sheet_breaks(args.data)
    data = common.bench_normalized(data, args.rolling_normalization)
    assert data.labels is not None
    n_train, n_fit = split_rows(data.n_rows)
    options = common.with_settings(TrainingOptions(), args.settings)
    options = options.changed(validation_fraction=(n_fit - n_train) / n_fit)
    if args.quick:
        options = options.changed(epochs=min(options.epochs, 2))
    common.log(f"chronological: train rows 0-{n_train - 1}, validation to {n_fit - 1}, test after")

    rows, _, test_labels = evaluate_model(data, options, args.label, n_train, n_fit)
    result["settings"]["rarewatch"] = options.model_dump(mode="json")
    if not args.no_article_baseline:
        baseline = article_options(2 if args.quick else args.article_epochs)
        baseline = baseline.changed(patience=5, validation_fraction=options.validation_fraction)
        common.log("article baseline")
        b_rows, b_scores, _ = evaluate_model(
            data, baseline, "article method", n_train, n_fit, rules=False
        )
        b_rows[0]["note"] += (
            f"; the article's network and last-step score with early stopping "
            f"(patience 5, at most {baseline.epochs} epochs), "
            "scaler on the normal training rows, threshold: quantile 0.99 of normal validation"
        )
        b_rows.append(
            common.metric_row(
                "article method, threshold 0.3", b_scores, test_labels, ARTICLE_THRESHOLD
            )
        )
        rows += b_rows
        result["settings"]["article_baseline"] = baseline.model_dump(mode="json")
    rows += common.trivial_rows(test_labels)
    rows.append(
        common.anchor_row(
            "article method re-run (EVALUATION.md)", roc_auc=0.486, f1=0.031, note="early stopping"
        )
    )
    result["rows"] = rows
    n_positive = int(test_labels.sum())
    result["notes"].append(
        f"rows after the curve shift: {data.n_rows}; train rows 0-{n_train - 1}, "
        f"validation rows {n_train}-{n_fit - 1} "
        f"({int(data.labels[n_train:n_fit].sum())} positive), "
        f"test rows {n_fit}-{data.n_rows - 1} ({len(test_labels)} rows, {n_positive} positive)"
    )
    common.note_bench_options(result, args.rolling_normalization)
    common.finish(result, args.json)


if __name__ == "__main__":
    main()
