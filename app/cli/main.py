"""The `rarewatch` command line: train, train-fleet, score, evaluate, models, demo-data, serve,
watch.

Every user error is one line on stderr and exit code 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.cli.fleet import add_fleet_command, cmd_train_fleet
from app.settings import Settings
from models.errors import RarewatchError
from models.files import write_atomically
from models.wording import listed, noun, plural

if TYPE_CHECKING:  # the CLI imports its heavy modules per command, so `--help` stays fast
    from models.data import Dataset
    from models.detector import Detection, Detector
    from models.input_contract import FillPolicy
    from models.spec import TrainingOptions

EXIT_USAGE = 2
SHOWN_FEATURES = 6  # train's summary names this many features, then says how many more


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _csv_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="rarewatch", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('rarewatch')}"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="where models are stored (default: $RAREWATCH_MODEL_DIR or ./artifacts)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser(
        "train",
        help="train a detector on a CSV or Parquet file",
        description=_train_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("data", type=Path, help="CSV or Parquet file of the training rows")
    train.add_argument(
        "--name", required=True, help="model name (required); trains its next version"
    )
    _add_column_options(train)
    _add_training_options(train)
    train.add_argument(
        "--quiet", action="store_true", help="no progress display (default: shown at a terminal)"
    )
    add_fleet_command(commands)

    score = commands.add_parser("score", help="score every row of a file with a stored model")
    score.add_argument("data", type=Path, help="CSV or Parquet file with the model's features")
    _add_model_options(score)
    score.add_argument("--output", type=Path, help="CSV file to write (default: stdout)")

    evaluate = commands.add_parser("evaluate", help="detection metrics against labelled data")
    evaluate.add_argument("data", type=Path, help="CSV or Parquet file with 0/1 labels")
    _add_model_options(evaluate)
    evaluate.add_argument(
        "--label-column", required=True, help="column of 0/1 labels, 1 anomalous (required)"
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the metrics as JSON (default: a report)"
    )

    listing = commands.add_parser("models", help="list stored models, or describe one")
    listing.add_argument(
        "--name", help="describe this model: layers, threshold, training (default: list all)"
    )
    listing.add_argument("--version", type=int, help="with --name: this version (default: newest)")

    plot = commands.add_parser(
        "plot", help="draw the series, the score, the threshold and the events as a PNG"
    )
    plot.add_argument("data", type=Path, help="CSV or Parquet file with the model's features")
    _add_model_options(plot)
    plot.add_argument("--output", type=Path, required=True, help="PNG file to write (required)")
    plot.add_argument(
        "--label-column",
        help="0/1 labels: their anomalous spans are shaded beside the events (default: none)",
    )

    demo = commands.add_parser("demo-data", help="write rarewatch's demo data set as CSV")
    demo.add_argument("output", type=Path, help="CSV file to write")
    demo.add_argument(
        "--rows", type=int, default=4320, help="rows, one every 10 minutes (default: 4320)"
    )
    demo.add_argument("--seed", type=int, default=7, help="of the noise and faults (default: 7)")

    serve = commands.add_parser("serve", help="serve the HTTP API (one uvicorn worker)")
    serve.add_argument("--host", help="address to bind (default: $RAREWATCH_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: $RAREWATCH_PORT or 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="train the demo model first if there is none (default: serve the stored models)",
    )
    watch = commands.add_parser(
        "watch", help="score metrics read from Prometheus on a schedule and export the scores"
    )
    watch.add_argument(
        "--config",
        type=Path,
        required=True,
        help="the watch's YAML config, e.g. deploy/watch/watch.yaml (required)",
    )
    return parser


def _train_description() -> str:
    """What train does and, in plain words, what its defaults decide and why (the numbers read
    from TrainingOptions, so they follow the defaults)."""
    import textwrap

    from models.pca_member import VARIANCE_KEPT
    from models.spec import TrainingOptions

    o = TrainingOptions()
    paragraphs = [
        "Train an LSTM autoencoder on the normal windows of a CSV or Parquet file and store "
        "it as the next version of --name.",
        "What the defaults do: each feature is scaled by its mean and spread on the normal "
        "training rows, never by a spread below "
        f"{o.relative_scale_floor * 100:g} % of its level (--relative-scale-floor "
        f"{o.relative_scale_floor:g}), so a sensor that barely moved in training counts a "
        "slow drift against its level, not in hundreds of its tiny training spreads. A "
        "window's score is its reconstruction error (the mean squared error over its rows, in "
        "scaled units). The threshold is the "
        f"{o.threshold_quantile:g} {o.threshold_method} of the scores of the normal validation "
        f"windows (the last {o.validation_fraction * 100:g} % of the rows, never trained on) "
        f"times {o.threshold_margin:g}, stored with the model. A window whose score exceeds it "
        f"raises an alarm, held for the next {o.alarm_hold} windows (--alarm-hold "
        f"{o.alarm_hold}; 0: it ends with its last window over the threshold), so that one "
        "failure, whose windows cross the threshold in bursts, is one event. Off by default: "
        f"--alarm-after ({o.alarm_after}: every window over the threshold alarms; K: only once "
        f"K windows in a row exceed), --smoothing ({o.smoothing}: each window's own score; K: "
        "the mean of the last K windows' scores), --error-standardisation "
        f"({o.error_standardisation}: the plain error; mean_square or max: each feature's "
        "error measured against its spread on normal validation windows) and --pca-member "
        "(off: the network alone; on: the network averaged with a linear model, a PCA of the "
        "normal training windows keeping the fewest components that explain "
        f"{VARIANCE_KEPT * 100:g} % of their variance, each model's error divided by its "
        "typical error on normal validation windows).",
        f"Why: a lever becomes a default only if, over three seeds, it raises the mean PR AUC "
        "and F1 across all the visible benchmarks (SKAB, its anomaly-free variant, NAB, the "
        "sheet breaks in time order) and loses on none by more than the seeds' spread. The "
        f"margin of {o.threshold_margin:g} (as SKAB's published autoencoders) cut false "
        "alarms on every data set measured, at the same or a better F1; the scale floor with "
        "the hold passed that rule together (neither did alone), and halved SKAB's false "
        'alarms (docs/benchmarks.md: "Defaults chosen across data: three seeds" and "What '
        'each lever did (kept or not)").',
    ]
    # flags stay whole on a line (a break inside --pca-member would read as two words)
    return "\n\n".join(
        textwrap.fill(paragraph, 79, break_on_hyphens=False) for paragraph in paragraphs
    )


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainingOptions field, the network's fields included, with the model's
    default, choices and description: the flags cannot drift from the options."""
    from enum import StrEnum

    from models.spec import NetworkConfig, TrainingOptions

    for options in (TrainingOptions, NetworkConfig):
        for name, field in options.model_fields.items():
            default = field.default
            if isinstance(default, NetworkConfig):
                continue
            flag: dict[str, Any] = {"default": default, "type": type(default)}
            if isinstance(default, bool):  # --pca-member / --no-pca-member
                flag = {"default": default, "action": argparse.BooleanOptionalAction}
            elif isinstance(default, StrEnum):
                flag.update(type=str, choices=[choice.value for choice in type(default)])
            elif isinstance(default, tuple):  # layer sizes: the model reads "32,16" itself
                flag.update(type=str)
                default = ",".join(map(str, default))
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                help=f"{field.description} (default: {default})",
                **flag,
            )


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-column", help="column of timestamps, kept, never a feature (default: none)"
    )
    parser.add_argument(
        "--label-column",
        help="0/1 labels: only all-normal windows are trained on (default: none, all normal)",
    )
    parser.add_argument(
        "--features", type=_csv_list, help="feature columns, e.g. a,b,c (default: all the others)"
    )
    parser.add_argument(
        "--exclude", type=_csv_list, help="columns not to use as features (default: none)"
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model name (required)")
    parser.add_argument("--version", type=int, help="model version (default: the newest)")
    from models.input_contract import FILL_CHOICES

    parser.add_argument(
        "--fill",
        help=f"how missing values are filled: {FILL_CHOICES} (default: the model's)",
    )
    parser.add_argument(
        "--max-gap",
        type=int,
        help="the longest run of missing rows in a feature that is filled (default: the model's)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress display (default: shown at a terminal)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed on one line
        return int(exc.code or 0)
    settings = Settings() if args.model_dir is None else Settings(model_dir=args.model_dir)
    handlers: dict[str, Callable[[argparse.Namespace, Settings], int | None]] = {
        "train": cmd_train,
        "train-fleet": cmd_train_fleet,
        "score": cmd_score,
        "evaluate": cmd_evaluate,
        "models": cmd_models,
        "plot": cmd_plot,
        "demo-data": cmd_demo_data,
        "serve": cmd_serve,
        "watch": cmd_watch,
    }
    try:
        code = handlers[args.command](args, settings)  # None is success; train-fleet says more
        sys.stdout.flush()  # a closed pipe fails here, not in the flush at exit (a traceback)
    except RarewatchError as exc:
        print(f"rarewatch {args.command}: error: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return _reader_gone()
    return code or 0


def _reader_gone() -> int:
    """The reader closed the pipe (`rarewatch models | head -1`): stop quietly, as Unix tools
    do. Python's recipe (the docs' "Note on SIGPIPE"): stdout goes to /dev/null so the flush at
    exit cannot fail again, and the exit code is 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The TrainingOptions the train flags ask for; with no flag, TrainingOptions' defaults."""
    from models.errors import InvalidInput
    from models.spec import NetworkConfig, TrainingOptions
    from models.thresholds import ThresholdMethod

    values = vars(args)
    network = {name: values[name] for name in NetworkConfig.model_fields}
    options = TrainingOptions.of(
        {name: values.get(name, network) for name in TrainingOptions.model_fields}
    )
    if options.threshold_method is ThresholdMethod.MAX_F1 and not args.label_column:
        raise InvalidInput("--threshold-method max-f1 needs labelled data: give --label-column")
    return options


def cmd_train(args: argparse.Namespace, settings: Settings) -> None:
    from app.cli.saving import save_trained
    from models.artifact import ModelStore, check_name
    from models.data import read_table, select
    from models.describe import threshold_method
    from models.hygiene import check_training_rows, label_like_columns
    from models.training import train_detector

    check_name(args.name)
    options = training_options(args)
    data = select(
        read_table(args.data),
        time_column=args.time_column,
        label_column=args.label_column,
        features=args.features,
        exclude=args.exclude,
    )
    check_training_rows(data, options)  # a refusal comes before any warning or TensorFlow
    for finding in label_like_columns(data.features, data.values):
        print(f"rarewatch train: warning: {finding.message()}", file=sys.stderr)
    from app.cli.progress import EpochBar, wanted

    bar = EpochBar(wanted(args.quiet))
    try:
        trained = train_detector(data, options, bar)
    finally:
        bar.close()
    for note in data.notes:
        print(f"rarewatch train: note: {note}", file=sys.stderr)
    version, path = save_trained(ModelStore(settings.model_dir), args.name, trained)
    summary, threshold = trained.spec.training, trained.spec.threshold
    print(
        f"trained {args.name} version {version} on "
        f"{plural(summary.train_windows, 'normal window')} of "
        f"{plural(len(data.features), 'feature')} ({listed(data.features, SHOWN_FEATURES)}): "
        f"best epoch {summary.best_epoch}/{summary.epochs_run}, "
        f"validation loss {summary.validation_loss:.4g}, threshold {threshold.value:.4g} "
        f"({threshold_method(threshold)}); saved to {path}"
    )
    if summary.filled_cells or summary.windows_left_out:
        print(
            f"rarewatch train: filled {plural(summary.filled_cells, 'missing cell')} "
            f"({options.fill}, max gap {options.max_gap}); "
            f"{plural(summary.windows_left_out, 'window')} holding a longer gap left out of "
            "training and validation",
            file=sys.stderr,
        )


def _load_scored(
    args: argparse.Namespace, settings: Settings, label_column: str | None = None
) -> tuple[Detector, Dataset, Detection]:
    """The model, the data in its feature order, and its detection."""
    from models.artifact import ModelStore
    from models.data import read_table, select
    from models.loading import load_detector

    detector = load_detector(ModelStore(settings.model_dir), args.model, args.version)
    frame = read_table(args.data)
    time_column = detector.spec.training.time_column
    data = select(
        frame,
        time_column=time_column if time_column in frame.columns else None,
        label_column=label_column,
        features=_require_features(frame.columns, detector.features),
    )
    from app.cli.progress import WindowBar, wanted

    for note in data.notes:
        print(f"rarewatch {args.command}: note: {note}", file=sys.stderr)
    fill = _fill_option(args, detector)
    bar = WindowBar(wanted(args.quiet))
    try:
        return detector, data, detector.detect(data.values, progress=bar, fill=fill)
    finally:
        bar.close()


def _fill_option(args: argparse.Namespace, detector: Detector) -> FillPolicy | None:
    """--fill and --max-gap over the model's fill policy; None when neither is given."""
    from models.input_contract import FillPolicy

    if args.fill is None and args.max_gap is None:
        return None
    model = detector.fill_policy
    return FillPolicy.of(
        model.text if args.fill is None else args.fill,
        model.max_gap if args.max_gap is None else args.max_gap,
    )


def _fill_line(detection: Detection, features: list[str]) -> str | None:
    """One line on what was filled and what went unscored; None when nothing was missing."""
    filling = detection.filling
    if filling is None:
        return None
    filled = filling.report.filled_per_feature
    per_feature = ", ".join(
        f"{feature} {n}" for feature, n in zip(features, filled.tolist(), strict=True) if n
    )
    return (
        f"filled {plural(int(filled.sum()), 'missing cell')} ({filling.policy.text}, max gap "
        f"{filling.policy.max_gap}){': ' + per_feature if per_feature else ''}; "
        f"{plural(filling.n_unscored, 'window')} not scored "
        f"({plural(int(filling.report.missing.sum()), 'cell')} left missing)"
    )


def _require_features(columns: Sequence[str], features: list[str]) -> list[str]:
    from models.errors import FeatureMismatch

    missing = [f for f in features if f not in columns]
    if missing:
        raise FeatureMismatch(
            f"the data lacks the model's feature {noun(len(missing), 'column')} "
            + ", ".join(missing)
        )
    return features


def cmd_score(args: argparse.Namespace, settings: Settings) -> None:
    import numpy as np
    import pandas as pd

    from models.data_quality import judge
    from models.detector import RowScores

    detector, data, detection = _load_scored(args, settings)
    rows = RowScores.of(detection, data.n_rows)
    table = pd.DataFrame({"score": rows.scores, "is_anomaly": rows.is_anomaly})
    if data.times is not None:
        table.insert(0, data.time_column, data.times)
    for i, feature in enumerate(detector.features):
        table[f"contrib_{feature}"] = rows.contributions[:, i]
    # the share of each row's window that was filled; a reason where the window went unscored
    table["filled_share"] = rows.filled_share
    reason = "" if detection.filling is None else detection.filling.policy.unscored_reason()
    table["reason"] = np.where(rows.unscored, reason, "")
    verdict = judge(detector.training_stats, detector.lookback, data.values, detection, data.times)
    # each row's window holds a value far outside the training range; the features, by ";"
    far = verdict.rows_far(data.n_rows)
    table["out_of_range"] = far.any(axis=1)
    named = np.full(data.n_rows, "", dtype=object)
    for row in np.flatnonzero(table["out_of_range"]).tolist():
        named[row] = ";".join(np.asarray(detector.features)[far[row]].tolist())
    table["out_of_range_features"] = named
    fill_line = _fill_line(detection, detector.features)
    if fill_line:
        print(f"rarewatch score: {fill_line}", file=sys.stderr)
    print(f"rarewatch score: {verdict.summary()}", file=sys.stderr)
    if args.output is None:
        table.to_csv(sys.stdout, index=False, float_format="%.6g")
        return
    write_atomically(args.output, lambda path: table.to_csv(path, index=False, float_format="%.6g"))
    flagged = int(rows.is_anomaly.sum())
    print(
        f"scored {plural(data.n_rows, 'row')}, {flagged} flagged anomalous; wrote {args.output}",
        file=sys.stderr,
    )


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> None:
    import numpy as np

    from models.detector import RowScores
    from models.metrics import evaluate

    detector, data, detection = _load_scored(args, settings, label_column=args.label_column)
    rows = RowScores.of(detection, data.n_rows)
    assert data.labels is not None
    scored = ~np.isnan(rows.scores)
    result = evaluate(rows.scores[scored], data.labels[scored], detector.threshold)
    if args.json:
        print(
            json.dumps(
                {"model": detector.name, "version": detector.version, **result.to_json()}, indent=2
            )
        )
        return
    c = result.confusion

    def auc(value: float | None) -> str:
        return "n/a (one class only)" if value is None else f"{value:.3f}"

    print(
        f"model {detector.name} version {detector.version}, threshold {result.threshold:.4g}, "
        f"{plural(result.n_scored, 'row')} scored, {result.n_positive} labelled anomalous\n"
        f"precision {result.precision:.3f}  recall {result.recall:.3f}  F1 {result.f1:.3f}  "
        f"false-positive rate {result.false_positive_rate:.3f}\n"
        f"ROC AUC {auc(result.roc_auc)}  PR AUC {auc(result.pr_auc)}\n"
        f"confusion: TN {c['tn']}  FP {c['fp']}  FN {c['fn']}  TP {c['tp']}"
    )


def cmd_plot(args: argparse.Namespace, settings: Settings) -> None:
    import pandas as pd

    from app.cli.plots import detection_png

    detector, data, detection = _load_scored(args, settings, label_column=args.label_column)
    x = range(data.n_rows)
    if data.times is not None:
        parsed = pd.to_datetime(data.times, errors="coerce", format="mixed")
        x = parsed if parsed.notna().all() else x  # row numbers when times do not parse
    title = f"{detector.name} v{detector.version} on {args.data.name}"
    png = detection_png(detector, data.values, detection, x, title, data.labels)
    write_atomically(args.output, lambda path: path.write_bytes(png))
    print(f"wrote {args.output}", file=sys.stderr)


def cmd_models(args: argparse.Namespace, settings: Settings) -> None:
    from models.artifact import ModelStore
    from models.describe import describe, summary_line

    store = ModelStore(settings.model_dir)
    if args.name:
        version, spec, _ = store.read(args.name, args.version)
        print(describe(args.name, version, spec))
        return
    names = store.names()
    if not names:
        print(f"no models in {store.root}")
    for name in names:
        for version in store.versions(name):
            print(summary_line(store, name, version))


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> None:
    from models.demo import demo_frame
    from models.errors import InvalidInput

    if args.rows < 100:
        raise InvalidInput(f"--rows must be at least 100, got {args.rows}")
    frame = demo_frame(args.rows, args.seed)
    write_atomically(args.output, lambda path: frame.to_csv(path, index=False))
    print(f"wrote {len(frame)} rows to {args.output}", file=sys.stderr)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from app.api.serve import ensure_demo_model, serve

    if args.demo:
        ensure_demo_model(settings)
    serve(settings, host=args.host, port=args.port)


def cmd_watch(args: argparse.Namespace, settings: Settings) -> None:
    import logging

    from app.watch.config import read_config
    from app.watch.schedule import run_watch
    from models.artifact import ModelStore

    config = read_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_watch(config, ModelStore(settings.model_dir))


if __name__ == "__main__":
    sys.exit(main())
