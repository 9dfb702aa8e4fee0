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

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from bench.quality import common
from models.data import Dataset
from models.detector import Detector
from models.spec import TrainingOptions

TRAIN, VALIDATION = 0.6, 0.2


def split_rows(n_rows: int) -> tuple[int, int]:
    """(n_train, n_fit): rows [0, n_train) train, [n_train, n_fit) validate, the rest test."""
    n_fit = round(n_rows * (TRAIN + VALIDATION))
    n_validation = round(n_fit * VALIDATION / (TRAIN + VALIDATION))
    return n_fit - n_validation, n_fit


def fitted_on_rows(data: Dataset, options: TrainingOptions, n_fit: int) -> Detector:
    """Trained on rows [0, n_fit); `options.validation_fraction` of them, the last, validate."""
    return common.fitted_detector(common.rows_of(data, slice(0, n_fit)), options)


def evaluate_detector(
    detector: Detector,
    data: Dataset,
    options: TrainingOptions,
    label: str,
    n_train: int,
    n_fit: int,
    rules: bool = True,
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The rows of a detector trained on rows [0, n_fit) (validation = rows [n_train, n_fit)),
    tested on rows [n_fit, end); with `rules`, a row per threshold-rule candidate too."""
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
    rows += common.max_f1_rows(
        label,
        spec.threshold.method,
        test_scores,
        test_labels,
        valid_scores,
        valid_labels,
        "part",
    )
    return rows, test_scores, test_labels


def main(argv: list[str] | None = None) -> None:
    from bench.quality.article import ARTICLE_THRESHOLD, article_options

    parser = common.sheet_break_parser(__doc__, 50, "most epochs of the article baseline")
    args = parser.parse_args(argv)

    result = common.new_result(
        "chronological", "Sheet breaks, chronological 60/20/20 protocol", args.data, args.quick
    )
    data = common.sheet_breaks(args.data)
    data = common.bench_normalized(data, args.rolling_normalization)
    assert data.labels is not None
    n_train, n_fit = split_rows(data.n_rows)
    options = common.bench_options(args)
    options = options.changed(validation_fraction=(n_fit - n_train) / n_fit)
    common.log(f"chronological: train rows 0-{n_train - 1}, validation to {n_fit - 1}, test after")

    detector = fitted_on_rows(data, options, n_fit)
    rows, _, test_labels = evaluate_detector(detector, data, options, args.label, n_train, n_fit)
    result["settings"]["rarewatch"] = options.model_dump(mode="json")
    if not args.no_article_baseline:
        baseline = article_options(common.QUICK_EPOCHS if args.quick else args.article_epochs)
        baseline = baseline.changed(patience=5, validation_fraction=options.validation_fraction)
        common.log("article baseline")
        b_detector = fitted_on_rows(data, baseline, n_fit)
        b_rows, b_scores, _ = evaluate_detector(
            b_detector, data, baseline, "article method", n_train, n_fit, rules=False
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
