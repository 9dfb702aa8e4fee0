"""Shared by the quality benchmarks: data preparation, option overrides, metric rows, markdown."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import git_commit
from models import thresholds
from models.data import Dataset, read_table, select
from models.detector import Detector
from models.errors import InvalidInput
from models.metrics import Confusion, best_f1, evaluate
from models.scoring import smooth_scores
from models.spec import NetworkConfig, TrainingOptions
from models.thresholds import (
    ThresholdMethod,
    max_f1_threshold,
    pot_threshold,
    quantile_threshold,
    sustained_scores,
)
from models.training import train_detector

REPO = Path(__file__).resolve().parents[2]

# The article's preparation of the sheet-break data (../shared/EVALUATION.md, section 1).
ARTICLE_SHIFT = 2
ARTICLE_DROPPED = ["time", "x28", "x61"]
LABEL = "y"
SHEET_TIME = "time"
# the risk a POT threshold variant is set at: one false alarm in 1000 normal windows
POT_QUANTILE = 0.999
QUICK_EPOCHS = 2  # --quick: the most epochs of any model (CI mode)
# threshold-rule candidates (THRESHOLD_RULES), every constant fixed before any run: a tail
# reach in standard deviations, a deeper POT risk, the windows an alarm is held after its last
# window over the line (merges fragments of one failure), and a minimum duration
TAIL_SDS = 4
DEEP_POT_QUANTILE = 0.9999
HOLD_WINDOWS = 10
SUSTAIN_WINDOWS = 3
# span of the smoothing variant, fixed beforehand: one window per row of the default lookback
SMOOTHING = 5
# windows of recent history the relative-score variant divides by, fixed before any run
RELATIVE_SPAN = 100
# where SKAB's rarewatch row takes its threshold from (skab.py --threshold-from, via run_all)
SKAB_THRESHOLD_FROM = ("validation", "training")
# rolling normalization (--rolling-normalization N), both constants fixed before any run: the
# span the command gives (100: long against a 5-row window, so the window's own shape survives,
# short against the weeks of drift on the sheet breaks; SKAB's 400 training rows keep 300 with a
# full history), and the least the rolling spread may fall to, as a fraction of the spread of
# every row before (a feature flat for the whole span would otherwise divide by zero); rows
# with fewer than ROLLING_MIN_HISTORY rows before them become 0 (too few to take a spread from)
ROLLING_FLOOR = 0.1
ROLLING_MIN_HISTORY = 10


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def curve_shift(labels: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """The article's curve shift: the `shift` rows before each event become positive and the
    event rows themselves are removed (the goal is to warn before the event).

    Returns (kept, shifted): a bool mask of the rows kept and the new labels of those rows.
    """
    events = np.flatnonzero(labels == 1)
    shifted = np.zeros(len(labels), dtype=np.int8)
    for k in range(1, shift + 1):
        before = events - k
        shifted[before[before >= 0]] = 1
    kept = labels != 1
    return kept, shifted[kept]


def sheet_breaks(path: Path, shift: int = ARTICLE_SHIFT, with_times: bool = False) -> Dataset:
    """The sheet-break table, curve-shifted by -shift, without time, x28 and x61: 59 features
    (`with_times`: the time column kept as the data set's times, not as a feature)."""
    frame = read_table(path)
    labels = frame[LABEL].to_numpy(dtype=np.int8)
    kept, shifted = curve_shift(labels, shift)
    frame = frame.loc[kept].reset_index(drop=True)
    frame[LABEL] = shifted
    time_column = SHEET_TIME if with_times else None
    present = [c for c in ARTICLE_DROPPED if c in frame.columns and c != time_column]
    return select(frame, time_column=time_column, label_column=LABEL, exclude=present)


def rolling_normalize(values: np.ndarray, span: int) -> np.ndarray:
    """Each row scaled by the mean and spread (standard deviation) of the `span` rows before it,
    per feature: the rows a model sees follow the normal level when it drifts. Causal: row i
    uses rows i-span .. i-1 only (fewer at the start; rows with under ROLLING_MIN_HISTORY rows
    before them become 0). The spread never falls below ROLLING_FLOOR x the spread of all the
    rows before; a feature constant since the start divides by 1.

    values  # (n_rows, n_features) in time order -> (n_rows, n_features)
    """
    import pandas as pd

    before = pd.DataFrame(np.asarray(values, dtype=np.float64)).shift(1)
    least = min(ROLLING_MIN_HISTORY, span)
    mean = before.rolling(span, min_periods=least).mean().to_numpy()
    spread = before.rolling(span, min_periods=least).std(ddof=0).to_numpy()
    floor = ROLLING_FLOOR * before.expanding(min_periods=least).std(ddof=0).to_numpy()
    spread = np.maximum(spread, floor)
    spread[~(spread > 1e-12)] = 1.0  # zero, or NaN in the first rows (their mean is NaN too)
    normalized = (values - mean) / spread
    return np.nan_to_num(normalized, nan=0.0)


def bench_normalized(data: Dataset, span: int) -> Dataset:
    """`data` with rolling_normalize applied to its rows when span > 0 (else unchanged)."""
    if span <= 0:
        return data
    return dataclasses.replace(data, values=rolling_normalize(data.values, span))


def rows_of(data: Dataset, rows: slice, labelled: bool = True) -> Dataset:
    """A contiguous part of a data set, optionally without its labels."""
    labels = data.labels[rows] if labelled and data.labels is not None else None
    times = data.times.iloc[rows].reset_index(drop=True) if data.times is not None else None
    return Dataset(
        data.features,
        data.values[rows],
        labels,
        times,
        data.time_column,
        data.label_column if labels is not None else None,
    )


# ---------------------------------------------------------------- options


def with_settings(options: TrainingOptions, settings: list[str]) -> TrainingOptions:
    """`--set key=value` pairs on top of `options`, checked by TrainingOptions itself; network
    fields may be given bare (`units=32,8`) or as `network.units=32,8`."""
    changes: dict[str, Any] = {}
    network: dict[str, Any] = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        key = key.strip().replace("-", "_").removeprefix("network.")
        if key in NetworkConfig.model_fields:
            network[key] = value
        elif key in TrainingOptions.model_fields and key != "network":
            changes[key] = value
        else:
            known = sorted(
                {*TrainingOptions.model_fields, *NetworkConfig.model_fields} - {"network"}
            )
            raise SystemExit(f"--set {setting!r}: unknown option; known: {', '.join(known)}")
    if network:
        changes["network"] = {**options.network.model_dump(), **network}
    try:
        return options.changed(**changes)
    except InvalidInput as exc:
        raise SystemExit(f"--set: {exc.detail}") from None


def bench_options(args: argparse.Namespace) -> TrainingOptions:
    """A protocol's training options: the defaults with each `--set`, and with `--quick` at
    most QUICK_EPOCHS epochs."""
    options = with_settings(TrainingOptions(), args.settings)
    return options.changed(epochs=min(options.epochs, QUICK_EPOCHS)) if args.quick else options


def sheet_break_parser(doc: str, article_epochs: int, epochs_help: str) -> argparse.ArgumentParser:
    """A sheet-break protocol's command line: the data, the common arguments, the article
    baseline's epochs and its switch."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    parser.add_argument("data", type=Path, help="sheet-breaks.csv")
    add_common_arguments(parser)
    parser.add_argument("--article-epochs", type=int, default=article_epochs, help=epochs_help)
    parser.add_argument("--no-article-baseline", action="store_true", help="skip the baseline")
    return parser


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a few epochs (and files): CI mode")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one rarewatch training option, e.g. --set activation=relu",
    )
    parser.add_argument(
        "--rolling-normalization",
        type=int,
        default=0,
        metavar="N",
        help="bench lever: scale each row by the mean and spread of the N rows before it, "
        "before windowing (0: off)",
    )
    parser.add_argument("--label", default="rarewatch defaults", help="name of the rarewatch row")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")


# ---------------------------------------------------------------- metrics


def metric_row(
    name: str, scores: np.ndarray, labels: np.ndarray, threshold: float, note: str = ""
) -> dict[str, Any]:
    """Precision, recall, F1, ROC AUC, PR AUC, FAR and MAR of `score > threshold`, and beside
    the F1 the oracle F1 of the same scores with its ratio (with_oracle)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    result = evaluate(scores, labels, float(threshold))
    return with_oracle(_row(name, result.to_json(), note), scores, labels)


def with_oracle(row: dict[str, Any], scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """`row` with `oracle_f1`, the best F1 any threshold on `scores` gives on these labels (an
    upper bound chosen with the test labels: never a result), and `own_to_oracle`, the row's F1
    over it: how well the row's own threshold transfers to the test part."""
    oracle = best_f1(scores, labels)
    row["oracle_f1"] = oracle
    row["own_to_oracle"] = row["f1"] / oracle if oracle else None
    return row


def fixed_row(name: str, predicted: np.ndarray, labels: np.ndarray, note: str = "") -> dict:
    """A row with no scores to rank (a trivial detector): no AUCs."""
    confusion = Confusion.of(predicted, labels)
    metrics = {
        "n_scored": len(labels),
        "n_positive": int(np.sum(labels)),
        "threshold": None,
        "precision": confusion.precision,
        "recall": confusion.recall,
        "f1": confusion.f1,
        "false_positive_rate": confusion.false_positive_rate,
        "roc_auc": None,
        "pr_auc": None,
        "confusion": dataclasses.asdict(confusion),
    }
    return _row(name, metrics, note)


def _row(name: str, metrics: dict[str, Any], note: str) -> dict[str, Any]:
    c = metrics["confusion"]
    metrics["far"] = 100.0 * c["fp"] / (c["fp"] + c["tn"]) if c["fp"] + c["tn"] else 0.0
    metrics["mar"] = 100.0 * c["fn"] / (c["fn"] + c["tp"]) if c["fn"] + c["tp"] else 0.0
    return {"name": name, "kind": "measured", "note": note, **metrics}


def pot_row(
    label: str, scores: np.ndarray, labels: np.ndarray, normal_validation_scores: np.ndarray
) -> dict[str, Any]:
    """The same model's scores against a POT threshold (quantile POT_QUANTILE) fitted to its
    normal validation scores: a threshold variant that needs no retraining."""
    threshold = pot_threshold(normal_validation_scores, POT_QUANTILE)
    return metric_row(
        f"{label}, POT threshold",
        scores,
        labels,
        threshold,
        f"same model; extreme-value (POT) threshold at {POT_QUANTILE} from normal validation "
        "scores (models.thresholds.pot_threshold)",
    )


def max_f1_rows(
    label: str,
    method: ThresholdMethod,
    scores: np.ndarray,
    labels: np.ndarray,
    valid_scores: np.ndarray,
    valid_labels: np.ndarray,
    part: str,
) -> list[dict[str, Any]]:
    """The same model at the threshold maximising F1 on the labelled validation `part`: a row,
    or none where that is the model's own threshold method already."""
    if method is ThresholdMethod.MAX_F1:
        return []
    threshold = max_f1_threshold(valid_scores, valid_labels)
    note = f"same model; threshold maximising F1 on the labelled validation {part}"
    return [metric_row(f"{label}, max-F1 threshold on validation", scores, labels, threshold, note)]


def relative_scores(ordered_scores: np.ndarray, span: int = RELATIVE_SPAN) -> np.ndarray:
    """Each score divided by the median of the `span` scores before it (fewer at the start; the
    first keeps ratio 1): a threshold on these follows the normal level when it moves (drift),
    while a short burst still stands out. ordered_scores  # (n,) in time order -> (n,)"""
    import pandas as pd

    scores = np.asarray(ordered_scores, dtype=np.float64)
    recent = pd.Series(scores).rolling(span, min_periods=1).median().shift(1).to_numpy(copy=True)
    recent[0] = scores[0] if len(scores) else 1.0
    return scores / np.maximum(recent, 1e-12)


@dataclasses.dataclass(frozen=True)
class Rescoring:
    """A model's scores recomputed in time order, judged against the quantile of the same
    recomputation on the validation part: the smoothed and the relative rows of every protocol."""

    suffix: str  # added to the row's label
    rescore: Callable[[np.ndarray], np.ndarray]  # ordered_scores (n,) -> (n,)
    how: str  # what happens to each score, for the row's note
    judged_on: str  # what the threshold's quantile is taken of, for the row's note


RESCORINGS = (
    Rescoring(
        "smoothed scores",
        lambda ordered: smooth_scores(ordered, SMOOTHING),
        f"each score averaged with the {SMOOTHING - 1} before it in time",
        "the smoothed normal validation scores",
    ),
    Rescoring(
        "relative to the recent level",
        relative_scores,
        f"each score divided by the median of the {RELATIVE_SPAN} scores before it",
        "those ratios on normal validation windows",
    ),
)


def rescored_rows(
    label: str,
    ordered_scores: np.ndarray,
    validation: np.ndarray,
    normal_validation: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    quantile: float,
) -> list[dict[str, Any]]:
    """One row per RESCORINGS entry for the same model: the rescored test part against the
    `quantile` of the rescored normal validation part.

    ordered_scores  # (n,) in time order; validation, test: indices into it
    normal_validation  # (len(validation),) bool
    """
    rows = []
    for rescoring in RESCORINGS:
        rescored = rescoring.rescore(ordered_scores)
        threshold = quantile_threshold(rescored[validation][normal_validation], quantile)
        note = (
            f"same model; {rescoring.how}, threshold the {quantile} quantile of "
            f"{rescoring.judged_on}"
        )
        rows.append(
            metric_row(f"{label}, {rescoring.suffix}", rescored[test], test_labels, threshold, note)
        )
    return rows


def held_scores(ordered_scores: np.ndarray, windows: int) -> np.ndarray:
    """The highest of each score and the `windows` - 1 before it: `> threshold` keeps an alarm
    raised for `windows` - 1 windows after the last one over the line, so fragments of one
    event closer than that become one event. Causal. The product's hold (`alarm_hold` =
    `windows` - 1, models.thresholds.held) as a ranking. ordered_scores  # (n,) -> (n,)"""
    return thresholds.held_scores(ordered_scores, windows - 1)


@dataclasses.dataclass(frozen=True)
class ThresholdRule:
    """A label-free way to decide from the same model's scores (issue 17, item 2): a rescoring
    in time order and a cut taken from the normal validation part (or the model's own)."""

    suffix: str  # added to the row's label
    note: str
    rescore: Callable[[np.ndarray], np.ndarray]  # ordered scores (n,) -> (n,)
    # (rescored normal validation scores, the model's own threshold) -> the cut
    cut: Callable[[np.ndarray, float], float]


def _mean_plus_sd(normal: np.ndarray, _: float) -> float:
    return float(np.mean(normal) + TAIL_SDS * np.std(normal))


THRESHOLD_RULES = (
    ThresholdRule(
        "rule: quantile 0.95",
        "quantile 0.95 of normal validation scores, no margin",
        lambda ordered: ordered,
        lambda normal, _: quantile_threshold(normal, 0.95),
    ),
    ThresholdRule(
        "rule: quantile 0.999",
        "quantile 0.999 of normal validation scores, no margin (near their maximum)",
        lambda ordered: ordered,
        lambda normal, _: quantile_threshold(normal, 0.999),
    ),
    ThresholdRule(
        f"rule: mean + {TAIL_SDS} sd",
        f"mean of normal validation scores plus {TAIL_SDS} standard deviations (the tail's "
        "spread, not one extreme point)",
        lambda ordered: ordered,
        _mean_plus_sd,
    ),
    ThresholdRule(
        f"rule: POT {DEEP_POT_QUANTILE}",
        f"extreme-value (POT) threshold at {DEEP_POT_QUANTILE} of normal validation scores",
        lambda ordered: ordered,
        lambda normal, _: pot_threshold(normal, DEEP_POT_QUANTILE),
    ),
    ThresholdRule(
        f"rule: hold {HOLD_WINDOWS}",
        f"the model's own threshold; an alarm is held {HOLD_WINDOWS - 1} windows after the "
        f"last window over it (fragments closer than {HOLD_WINDOWS} windows merge; the "
        f"training option alarm_hold={HOLD_WINDOWS - 1})",
        lambda ordered: held_scores(ordered, HOLD_WINDOWS),
        lambda _, own: own,
    ),
    ThresholdRule(
        f"rule: {SUSTAIN_WINDOWS} in a row, hold {HOLD_WINDOWS}",
        f"the model's own threshold; an alarm needs {SUSTAIN_WINDOWS} windows in a row over it "
        f"and is held {HOLD_WINDOWS - 1} windows after (the training options "
        f"alarm_after={SUSTAIN_WINDOWS}, alarm_hold={HOLD_WINDOWS - 1})",
        lambda ordered: alarm_scores(ordered, SUSTAIN_WINDOWS, HOLD_WINDOWS - 1),
        lambda _, own: own,
    ),
)


def rule_ratios(
    ordered_scores: np.ndarray,
    validation: np.ndarray,
    normal_validation: np.ndarray,
    test: np.ndarray,
    own_threshold: float,
) -> dict[str, np.ndarray]:
    """Each THRESHOLD_RULES entry's test scores over its own cut (1 is the cut), by suffix.

    ordered_scores  # (n,) in time order; validation, test: indices into it
    normal_validation  # (len(validation),) bool
    """
    ratios = {}
    for rule in THRESHOLD_RULES:
        rescored = rule.rescore(np.asarray(ordered_scores, dtype=np.float64))
        cut = rule.cut(rescored[validation][normal_validation], own_threshold)
        ratios[rule.suffix] = rescored[test] / cut
    return ratios


def rule_rows(
    label: str, ratios: list[dict[str, np.ndarray]], labels: list[np.ndarray], entities: str = ""
) -> list[dict[str, Any]]:
    """One row per THRESHOLD_RULES entry from the rule_ratios of one or more entities (files,
    series) and their test labels, pooled; `entities` tells the note how they were pooled."""
    pooled = np.concatenate(labels)
    return [
        metric_row(
            f"{label}, {rule.suffix}",
            np.concatenate([entity[rule.suffix] for entity in ratios]),
            pooled,
            1.0,
            f"same model{entities}; threshold rule candidate: {rule.note}",
        )
        for rule in THRESHOLD_RULES
    ]


def decision_note(method: object, margin: float, alarm_after: int, alarm_hold: int = 0) -> str:
    """How a rarewatch row decides: e.g. `quantile x 1.5, alarm after 4 windows in a row`."""
    note = str(method) + (f" x {margin}" if margin != 1 else "")
    note += f", alarm after {alarm_after} windows in a row" if alarm_after > 1 else ""
    return note + (f", held {alarm_hold} windows after" if alarm_hold > 0 else "")


def alarm_scores(
    ordered_scores: np.ndarray, windows_in_a_row: int, windows_held: int = 0
) -> np.ndarray:
    """Scores whose `> threshold` is the product's alarm rule (`alarm_after`, then `alarm_hold`,
    applied by Detector): the lowest score of each window and the windows_in_a_row - 1 before
    it, in time order, then the highest of that and the windows_held before it. The very first
    windows, with nothing before them, keep their own score (the product raises no alarm there;
    these rows are never test rows in the protocols that need it).

    ordered_scores  # (n,) in time order -> (n,)
    """
    sustained = sustained_scores(ordered_scores, windows_in_a_row)
    rule = np.where(np.isfinite(sustained), sustained, ordered_scores)
    return thresholds.held_scores(rule, windows_held)


def trivial_rows(labels: np.ndarray) -> list[dict[str, Any]]:
    rows = [
        fixed_row("always-alarm (trivial)", np.ones(len(labels), bool), labels),
        fixed_row("never-alarm (trivial)", np.zeros(len(labels), bool), labels),
    ]
    for row in rows:
        row["kind"] = "trivial"
    rows[0]["pr_auc"] = float(np.mean(labels))  # a constant score: PR AUC is the positive rate
    rows[0]["roc_auc"] = 0.5
    return rows


def anchor_row(name: str, note: str = "", **figures: Any) -> dict[str, Any]:
    """A published figure (not measured here): only the numbers the source gives."""
    return {"name": name, "kind": "anchor", "note": note, **figures}


# ---------------------------------------------------------------- provenance and output


def command_line() -> str:
    """The command as it would be typed from the repository root."""
    argv = list(sys.argv)
    script = Path(argv[0])
    if script.suffix == ".py":
        try:
            module = script.resolve().relative_to(REPO).with_suffix("")
            argv[0:1] = ["-m", ".".join(module.parts)]
        except ValueError:
            argv[0] = str(script)
    return ".venv/bin/python " + " ".join(shlex.quote(a) for a in argv)


def new_result(protocol: str, title: str, data_path: Path, quick: bool) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "title": title,
        "data": str(data_path),
        "quick": quick,
        "command": command_line(),
        "commit": git_commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "started": time.monotonic(),
        "settings": {},
        "rows": [],
        "notes": [],
    }


def note_bench_options(result: dict[str, Any], rolling_normalization: int) -> None:
    """Record the bench-only levers of a run in its settings and notes."""
    if rolling_normalization > 0:
        result["settings"]["rolling_normalization"] = rolling_normalization
        result["notes"].append(
            f"rolling normalization: every row (training, validation and test) scaled by the "
            f"mean and spread of the {rolling_normalization} rows before it, before windowing "
            f"(bench.quality.common.rolling_normalize; spread floored at {ROLLING_FLOOR} x that "
            "of all rows before)"
        )


def finish(result: dict[str, Any], json_path: Path | None) -> None:
    result["seconds"] = round(time.monotonic() - result.pop("started"), 1)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    print(render(result))


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


ORACLE_NOTE = (
    "**oracle F1**: best threshold on the test labels: not a result (an upper bound: the labels "
    "pick the threshold); **own / oracle**: the row's F1 at its own threshold over it, i.e. how "
    "well the threshold transfers"
)
COLUMNS = (
    "precision",
    "recall",
    "F1",
    "oracle F1",
    "own / oracle",
    "ROC AUC",
    "PR AUC",
    "FAR %",
    "MAR %",
    "TN",
    "FP",
    "FN",
    "TP",
)


def render(result: dict[str, Any], heading: str = "###") -> str:
    """One protocol as markdown: its table, settings, notes and provenance."""
    lines = [f"{heading} {result['title']}", ""]
    lines += _table(result["rows"])
    if "variant" in result:
        lines += ["", f"{heading}# {result['variant']['title']}", ""]
        lines += _table(result["variant"]["rows"])
    lines.append("")
    lines.append(f"- {ORACLE_NOTE}")
    for row in result["rows"] + result.get("variant", {}).get("rows", []):
        if row.get("note"):
            lines.append(f"- **{row['name']}**: {row['note']}")
    for note in result["notes"]:
        lines.append(f"- {note}")
    if result.get("details"):  # a protocol's own extra lines (NAB: a table per series)
        lines += ["", *result["details"], ""]
    if result["settings"]:
        settings = json.dumps(result["settings"], default=_json_default)
        lines.append(f"- settings: `{settings}`")
    lines.append(
        f"- command: `{result['command']}` ({result.get('seconds', '?')} s); "
        f"commit {result['commit']}; {result['date']}"
    )
    return "\n".join(lines) + "\n"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    lines.append("| row | " + " | ".join(COLUMNS) + " |")
    lines.append("|---|" + "---:|" * len(COLUMNS))
    for row in rows:
        c = row.get("confusion") or {}
        cells = [
            fmt(row.get("precision")),
            fmt(row.get("recall")),
            fmt(row.get("f1")),
            fmt(row.get("oracle_f1")),
            fmt(row.get("own_to_oracle"), 2),
            fmt(row.get("roc_auc")),
            fmt(row.get("pr_auc")),
            fmt(row.get("far"), 1),
            fmt(row.get("mar"), 1),
            *(fmt(c.get(k)) for k in ("tn", "fp", "fn", "tp")),
        ]
        name = row["name"] if row["kind"] != "anchor" else f"*{row['name']}* (published)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------- training through the product


def fitted_detector(data: Dataset, options: TrainingOptions, name: str = "bench") -> Detector:
    """Train with `rarewatch train`'s code; the Detector the service would load, in memory."""
    return Detector.from_trained(train_detector(data, options), name)


def scores_for_rows(detector: Detector, values: np.ndarray, first: int, stop: int) -> np.ndarray:
    """The score of the window ending on each row first..stop-1, using the rows before `first`
    as context (so every row from `first` on has a window); first >= lookback - 1."""
    context = first - detector.lookback + 1
    if context < 0:
        raise ValueError(f"row {first} has fewer than lookback - 1 rows before it")
    detection = detector.detect(values[context:stop])
    return np.asarray(detection.scores, dtype=np.float64)
