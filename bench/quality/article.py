"""The article's protocol on the sheet-break data, exact, next to rarewatch's defaults.

    .venv/bin/python -m bench.quality.article ../shared/data/processminer/sheet-breaks.csv

Curve shift -2; drop time, x28, x61; the article's n-L-1 windows labelled by their last row;
two shuffled train_test_split(test_size=0.2, random_state=123) (reproduced in numpy); a scaler
fitted on the last row of each normal training window. The network and its fit are rarewatch's
own (models.training.fit_network); the scores are Detector.detect's on the rows in time order,
as the other protocols score, so the score options (--set smoothing=..., error_standardisation)
mean the same here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from bench.quality import common
from models.data import Dataset, label_before_events
from models.detector import Detector
from models.loading import IN_MEMORY_VERSION
from models.pca_member import PcaBasis, fit_pca
from models.scaling import Scaler, Scaling
from models.scoring import ErrorStandardisation, ErrorWeighting, ScoreOn
from models.spec import Activation, NetworkConfig, TrainingOptions
from models.training import FittedNetwork, choose_threshold, fit_network, fitted_spec
from models.windows import WindowTransform, temporalize, transform_windows

ARTICLE_LOOKBACK = 5
ARTICLE_THRESHOLD = 0.3  # fixed by hand in the article after a validation precision/recall plot
SPLIT_SEED = 123


def shuffle_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices exactly as sklearn's train_test_split(shuffle=True) draws them:
    ShuffleSplit takes one RandomState(seed).permutation; the first ceil(test_size * n) are test.
    """
    n_test = math.ceil(test_size * n)
    permutation = np.random.RandomState(seed).permutation(n)
    return permutation[n_test:], permutation[:n_test]


def article_windows(values: np.ndarray, labels: np.ndarray, lookback: int):
    """The article's temporalize: n-L-1 windows, window i = rows i+2 .. i+L+1, labelled by y[i+L+1].

    values  # (n_rows, n_features) -> windows  # (n_rows - lookback - 1, lookback, n_features)
    """
    n_rows = len(values)
    n_windows = n_rows - lookback - 1
    windows = temporalize(values[2:], lookback)[:n_windows]
    return windows, labels[lookback + 1 : n_rows]


def article_options(epochs: int) -> TrainingOptions:
    """LSTM 32-16 relu autoencoder, Adam 1e-4, batch 64, MSE, no early stopping, last-step score;
    every other option pinned to the article's way, whatever rarewatch's defaults become."""
    return TrainingOptions(
        lookback=ARTICLE_LOOKBACK,
        epochs=epochs,
        batch_size=64,
        learning_rate=1e-4,
        patience=epochs,  # never stops early
        network=NetworkConfig(units=(32, 16), activation=Activation.RELU),
        score_on=ScoreOn.LAST_STEP,
        window_transform=WindowTransform.NONE,
        error_weighting=ErrorWeighting.NONE,
        error_standardisation=ErrorStandardisation.NONE,
        smoothing=1,
        scaling=Scaling.STANDARD,
        shift=0,
        threshold_margin=1.0,
        alarm_after=1,
    )


def run_protocol(data: Dataset, labels: np.ndarray, options: TrainingOptions):
    """Windows, split, scaler, fit, scores; returns (test scores, test labels, valid ..., info).

    With `options.shift`, windows ending within `shift` rows before a positive one are left out
    of the normal training and validation windows too (the test labels stay the protocol's).
    """
    values = data.values
    windows, window_labels = article_windows(values, labels, options.lookback)
    # each window's last-row label after the training option's shift (window i ends on row i+L+1)
    excluded = label_before_events(labels, options.shift)[options.lookback + 1 :]
    train_valid, test = shuffle_split(len(windows), 0.2, SPLIT_SEED)
    inner_train, inner_valid = shuffle_split(len(train_valid), 0.2, SPLIT_SEED)
    train, valid = train_valid[inner_train], train_valid[inner_valid]
    train_normal = train[excluded[train] == 0]
    valid_normal = valid[excluded[valid] == 0]
    # the last row of each window
    scaler = Scaler.fit(windows[train_normal][:, -1, :], options.scaling)

    def scaled(index: np.ndarray) -> np.ndarray:
        part = windows[index]  # (n, lookback, n_features), a copy
        part = scaler.transform(part.reshape(-1, part.shape[2])).reshape(part.shape)
        return transform_windows(part, options.window_transform)

    train_windows = scaled(train_normal)
    fitted = fit_network(train_windows, scaled(valid_normal), options)
    pca = fit_pca(train_windows) if options.pca_member else None  # on the network's windows
    in_order = np.sort(valid)  # the validation windows in time order, as train_detector's
    detector = article_detector(
        data,
        fitted,
        scaler,
        scaled(in_order),
        excluded[in_order] == 0,
        window_labels[in_order],
        len(train_normal),
        options,
        pca,
    )
    # every window in time order, scored as the service scores a file's rows (the score
    # options, smoothing included, applied by Detector.detect); the article's windows start on
    # row 2, and its last one is the second to last of those rows' windows
    ordered = detector.detect(values[2:]).scores[: len(windows)].astype(np.float64)
    info: dict[str, Any] = {
        "windows": len(windows),
        "train": len(train),
        "train_normal": len(train_normal),
        "valid": len(valid),
        "valid_normal": len(valid_normal),
        "test": len(test),
        "test_positive": int(window_labels[test].sum()),
        "epochs_run": len(fitted.losses),
        "best_epoch": int(np.argmin(fitted.validation_losses)) + 1,
        "validation_loss": float(min(fitted.validation_losses)),
    }
    info["valid_normal_mask"] = excluded[valid] == 0
    info["ordered"], info["valid_index"], info["test_index"] = ordered, valid, test
    return ordered[test], window_labels[test], ordered[valid], window_labels[valid], info


def article_detector(
    data: Dataset,
    fitted: FittedNetwork,
    scaler: Scaler,
    valid_windows: np.ndarray,
    valid_normal: np.ndarray,
    valid_labels: np.ndarray,
    n_train_windows: int,
    options: TrainingOptions,
    pca: PcaBasis | None = None,
) -> Detector:
    """The fitted network, the article's scaler and the score options fitted on the normal
    validation windows, as train_detector would make them into a Detector. Its threshold is
    the validation windows' alone (the protocol cuts the scores with its own, in main).

    valid_windows  # (n_windows, lookback, n_features) scaled and transformed, in time order
    valid_normal, valid_labels  # (n_windows,) each window normal; the label of its last row
    """
    from models.engines import TensorFlowEngine

    spec, _ = fitted_spec(
        fitted,
        data.features,
        scaler,
        valid_windows,
        valid_normal,
        valid_labels,
        options,
        pca,
        rows=data.n_rows,
        normal_rows=0 if data.labels is None else int(np.count_nonzero(data.labels == 0)),
        train_windows=n_train_windows,
        time_column=None,
        label_column=data.label_column,
        time_start=None,
        time_end=None,
        feature_min=np.nanmin(data.values, axis=0).tolist(),
        feature_max=np.nanmax(data.values, axis=0).tolist(),
        seconds=0.0,  # not timed: the protocol's figures are its scores
    )
    engine = TensorFlowEngine(fitted.network, options.lookback, len(data.features))
    return Detector("article", IN_MEMORY_VERSION, spec, engine)


def anchors() -> list[dict]:
    published = [
        (
            "article, published notebook",
            (3319, 286, 36, 13),
            0.706,
            None,
            "ROC AUC from an earlier run",
        ),
        ("article, earlier version", (3384, 221, 39, 10), 0.668, None, ""),
        (
            "article method re-run (EVALUATION.md, 200 epochs)",
            (3301, 304, 37, 12),
            0.711,
            0.031,
            "",
        ),
    ]
    rows = []
    for name, (tn, fp, fn, tp), auc, pr_auc, note in published:
        rows.append(
            common.anchor_row(
                name,
                note,
                precision=tp / (tp + fp),
                recall=tp / (tp + fn),
                f1=2 * tp / (2 * tp + fp + fn),
                roc_auc=auc,
                pr_auc=pr_auc,
                far=100 * fp / (fp + tn),
                mar=100 * fn / (fn + tp),
                confusion={"tn": tn, "fp": fp, "fn": fn, "tp": tp},
            )
        )
    rows.append(common.anchor_row("dense autoencoder (the article's predecessor)", f1=0.073))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = common.sheet_break_parser(__doc__, 200, "epochs of the article baseline")
    args = parser.parse_args(argv)

    result = common.new_result(
        "article", "Sheet breaks, the article's protocol (shuffled windows)", args.data, args.quick
    )
    data = common.sheet_breaks(args.data)
    data = common.bench_normalized(data, args.rolling_normalization)
    labels = data.labels if data.labels is not None else np.zeros(data.n_rows, np.int8)
    options = common.bench_options(args)
    common.log(f"article protocol: {data.n_rows} rows, {int(labels.sum())} positive")

    test_scores, test_labels, valid_scores, valid_labels, info = run_protocol(data, labels, options)
    threshold = choose_threshold(valid_scores, info.pop("valid_normal_mask"), valid_labels, options)
    # the alarm rule (alarm_after, alarm_hold) runs over the windows in time order, as Detector
    # does
    rule = common.alarm_scores(info["ordered"], options.alarm_after, options.alarm_hold)
    alarms = rule[info["test_index"]]
    rows = [
        common.metric_row(
            args.label,
            alarms,
            test_labels,
            threshold.value,
            "threshold "
            + common.decision_note(
                threshold.method, options.threshold_margin, options.alarm_after, options.alarm_hold
            )
            + f" from normal validation windows; {info['epochs_run']} epochs run, "
            f"best {info['best_epoch']}",
        ),
        common.pot_row(args.label, test_scores, test_labels, valid_scores[valid_labels == 0]),
    ]
    in_time_order = (info.pop("ordered"), info.pop("valid_index"), valid_labels == 0)
    test_index = info.pop("test_index")
    rows += common.rescored_rows(
        args.label, *in_time_order, test_index, test_labels, options.threshold_quantile
    )
    ratios = common.rule_ratios(*in_time_order, test_index, threshold.value)
    rows += common.rule_rows(args.label, [ratios], [test_labels])
    rows += common.max_f1_rows(
        args.label,
        options.threshold_method,
        test_scores,
        test_labels,
        valid_scores,
        valid_labels,
        "split",
    )
    result["settings"]["rarewatch"] = options.model_dump(mode="json")
    result["settings"]["split"] = info

    if not args.no_article_baseline:
        epochs = common.QUICK_EPOCHS if args.quick else args.article_epochs
        baseline = article_options(epochs)
        common.log(f"article baseline: {epochs} epochs")
        b_test, b_labels, b_valid, b_valid_labels, b_info = run_protocol(data, labels, baseline)
        rows.append(
            common.metric_row(
                "article baseline (threshold 0.3)",
                b_test,
                b_labels,
                ARTICLE_THRESHOLD,
                f"the article's model re-run with rarewatch's code: LSTM 32-16 relu, Adam 1e-4, "
                f"batch 64, {epochs} epochs (weights of the best validation epoch, "
                f"{b_info['best_epoch']}), last-timestep score, fixed threshold 0.3",
            )
        )
        rows += common.max_f1_rows(
            "article baseline",
            baseline.threshold_method,
            b_test,
            b_labels,
            b_valid,
            b_valid_labels,
            "split",
        )
        result["settings"]["article_baseline"] = baseline.model_dump(mode="json")
    rows += common.trivial_rows(test_labels)
    rows += anchors()
    result["rows"] = rows
    result["notes"].append(
        f"test split: {info['test']} windows, {info['test_positive']} positive; "
        f"train {info['train']} ({info['train_normal']} normal), "
        f"validation {info['valid']} ({info['valid_normal']} normal)"
    )
    common.note_bench_options(result, args.rolling_normalization)
    common.finish(result, args.json)


if __name__ == "__main__":
    main()
