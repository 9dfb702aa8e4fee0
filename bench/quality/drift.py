"""Periodic refit against drift: the sheet-break data and SKAB replayed in simulated time through
the watch's own refit (app.watch.refit.refit, one child process per fit), next to the fixed model.

    .venv/bin/python -m bench.quality.drift ../shared/data

Sheet breaks (the chronological protocol's split and metrics, bench.quality.chronological): the
fixed model is trained on the training and validation parts and scores the test part. With
refit, the same model is in use when the test part starts; every day of rows after that a new
version is fitted on the last N days of rows (no labels: the rows inside windows the version in
use flagged since the last fit are left out), and each row is scored by the version in use at
its time. N is chosen beforehand on the training part alone: the same replay over its last days,
from a model fitted on its first days, for each N in --days; the N with the best ROC AUC there
is the one the test part uses.

SKAB (bench.quality.skab's files and leaderboard protocol): per file, the fixed model is fitted
on rows 0-399 and scores the rest; with refit, every --skab-fit-every rows after row 400 a new
version is fitted on the last 400 rows, less the flagged ones: those flagged since the last fit,
or those any version flagged (--skab-flags-kept, the watch's flags_kept). Each refit given (a
comma list of either option) is a row of its own, on the same files as the fixed model;
--skab-stride/--skab-offset take a part of the files and --time-limit stops between files.
Scores are divided by the threshold of the version that made them, so 1 is the cut everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pandas as pd

from app.watch.config import FlagsKept
from app.watch.refit import flags_after_fit, flags_to_fit, record_in_use, refit
from bench.quality import chronological, common, skab
from bench.quality.run_all import DOC, RESULTS, replace_between
from models.artifact import ModelStore
from models.data import Dataset
from models.detector import Detector
from models.loading import load_detector
from models.spec import TrainingOptions
from models.training import TrainedModel, store_trained, train_detector
from models.wording import plural

DRIFT = ("<!-- drift:begin -->", "<!-- drift:end -->")
PARTS = ("sheet-breaks", "skab")
DAY = np.timedelta64(1, "D")
DAYS_TRIED = (1, 2, 4)  # fit windows (days) tried on the training part
CHOICE_DAYS = 6  # the training part's last days that the choice of N replays
KEEP_VERSIONS = 3
FIT_TIMEOUT_S = 1800.0
MODEL = "replayed"


@dataclasses.dataclass(frozen=True)
class Replayed:
    """What a replay gave: each row's score over the threshold of the version in use."""

    ratios: np.ndarray  # (stop - first,) rows first..stop-1
    fits: int
    failures: list[str]  # the reasons of the fits that failed (the version in use stayed)


def replay(
    data: Dataset,
    times: np.ndarray,
    seed: TrainedModel,
    first: int,
    stop: int,
    fit_every: np.timedelta64,
    fit_window: np.timedelta64,
    flags_kept: FlagsKept = FlagsKept.UNTIL_FIT,
) -> Replayed:
    """Rows first..stop-1 scored in time order: `seed` is in use at row `first`; every
    `fit_every` after it, refit() fits a new version on the rows of the last `fit_window`, less
    the rows flagged (since the last fit, or by any version while inside the window: the watch's
    flags_kept, kept by its own functions), and that version scores from then on.

    times  # (n_rows,) datetime64[ns], increasing
    """
    due = times[first] + fit_every * np.arange(1, (times[stop - 1] - times[first]) // fit_every + 1)
    fit_rows = [first, *np.searchsorted(times, due)]
    fit_rows = sorted({r for r in fit_rows if r < stop})
    ratios = np.full(stop - first, np.nan)
    stamps = times.astype("datetime64[ns]").astype(np.int64)
    flagged: set[int] = set()  # epoch ns, as the watch keeps them
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rarewatch-drift-") as folder:
        models_dir = Path(folder)
        version, _ = store_trained(ModelStore(models_dir), MODEL, seed)
        record_in_use(models_dir, MODEL, version, "the model in use when the replay starts")
        detector = load_detector(ModelStore(models_dir), MODEL, version)
        for k, row in enumerate(fit_rows):
            if k > 0:
                start = int(np.searchsorted(times, times[row] - fit_window))
                flagged, flagged_rows = flags_to_fit(flagged, stamps[start:row])
                outcome = refit(
                    models_dir,
                    MODEL,
                    times[start:row],
                    data.values[start:row],
                    data.features,
                    flagged_rows,
                    KEEP_VERSIONS,
                    FIT_TIMEOUT_S,
                )
                if outcome.ok and outcome.version is not None:
                    detector = load_detector(ModelStore(models_dir), MODEL, outcome.version)
                    record_in_use(models_dir, MODEL, outcome.version, outcome.reason)
                    flagged = flags_after_fit(flagged, int(stamps[row - 1]), flags_kept)
                else:
                    failures.append(outcome.reason)
                common.log(f"  fit {k}/{len(fit_rows) - 1} at row {row}: {outcome.reason}")
            end = fit_rows[k + 1] if k + 1 < len(fit_rows) else stop
            ratio = scored(detector, data.values, row, end)
            ratios[row - first : end - first] = ratio
            flagged.update(flagged_window_rows(stamps, row + np.flatnonzero(ratio > 1), detector))
    return Replayed(ratios, len(fit_rows) - 1, failures)


def scored(detector: Detector, values: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Rows first..stop-1: the product's alarm score over the detector's threshold."""
    scores = common.scores_for_rows(detector, values, first, stop)
    spec = detector.spec
    return common.alarm_scores(scores, spec.alarm_after, spec.alarm_hold) / detector.threshold


def flagged_window_rows(
    stamps: np.ndarray, window_ends: np.ndarray, detector: Detector
) -> set[int]:
    """The times (epoch ns) of every row of the windows ending on `window_ends` (flagged
    anomalous), as the watch's tick records them."""
    rows = (window_ends[:, None] - np.arange(detector.lookback)[None, :]).ravel()
    return {int(t) for t in stamps[rows[rows >= 0]]}


def times_of(data: Dataset) -> np.ndarray:
    """The data set's times as datetime64[ns] (read as UTC)."""
    assert data.times is not None
    parsed = pd.to_datetime(data.times, format="mixed", utc=True)
    return parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")


# ---------------------------------------------------------------- sheet breaks


def sheet_breaks(
    path: Path, options: TrainingOptions, days: tuple[int, ...], choice_days: int, quick: bool
) -> dict[str, Any]:
    result = common.new_result(
        "drift-sheet-breaks",
        "Sheet breaks, chronological protocol: fixed model and daily refit",
        path,
        quick,
    )
    data = common.sheet_breaks(path, with_times=True)
    times = times_of(data)
    labels = data.labels
    assert labels is not None
    n_train, n_fit = chronological.split_rows(data.n_rows)
    options = options.changed(validation_fraction=(n_fit - n_train) / n_fit)
    result["settings"]["rarewatch"] = options.model_dump(mode="json")

    # N, on the training part only: a model fitted on its first days, then the replay of its
    # last CHOICE_DAYS days for each N
    choice_first = int(np.searchsorted(times, times[n_train - 1] - choice_days * DAY))
    common.log(f"drift: choosing N on rows {choice_first}-{n_train - 1}")
    choice_seed = train_detector(common.rows_of(data, slice(0, choice_first)), options)
    choice_rows, best = [], None
    for n_days in days:
        common.log(f"drift: N = {n_days} on the training part")
        replayed = replay(data, times, choice_seed, choice_first, n_train, DAY, n_days * DAY)
        row = common.metric_row(
            f"choice of N on the training part: N = {plural(n_days, 'day')}",
            replayed.ratios,
            labels[choice_first:n_train],
            1.0,
            f"rows {choice_first}-{n_train - 1}, {plural(replayed.fits, 'fit')}, "
            f"{plural(len(replayed.failures), 'failed fit')}",
        )
        choice_rows.append(row)
        if best is None or (row["roc_auc"] or 0) > (best[1]["roc_auc"] or 0):
            best = (n_days, row)
    assert best is not None
    n_days = best[0]

    common.log("drift: the fixed model")
    fixed = train_detector(common.rows_of(data, slice(0, n_fit)), options)
    fixed_rows, _, test_labels = chronological.evaluate_detector(
        Detector.from_trained(fixed, "fixed"), data, options, "fixed model", n_train, n_fit
    )
    common.log(f"drift: daily refit on the last {plural(n_days, 'day')} over the test part")
    replayed = replay(data, times, fixed, n_fit, data.n_rows, DAY, n_days * DAY)
    refit_row = common.metric_row(
        f"daily refit on the last {plural(n_days, 'day')}",
        replayed.ratios,
        test_labels,
        1.0,
        f"the fixed model in use at the test part's start, then {plural(replayed.fits, 'fit')} "
        f"(one a day, {len(replayed.failures)} failed), each on the last "
        f"{plural(n_days, 'day')} of rows less those flagged since the fit before; each row "
        "scored by the version in use then; ROC/PR AUC over score / threshold",
    )
    result["rows"] = [refit_row, fixed_rows[0], *common.trivial_rows(test_labels), *choice_rows]
    result["notes"].append(
        f"N = {n_days} days: the best ROC AUC of N in {list(days)} replayed over the training "
        f"part's last {choice_days} days (rows {choice_first}-{n_train - 1}), from a model "
        f"fitted on its rows 0-{choice_first - 1}; the test part was not looked at"
    )
    result["notes"].append(
        f"test rows {n_fit}-{data.n_rows - 1} ({len(test_labels)} rows, "
        f"{int(test_labels.sum())} positive), {times[n_fit]} to {times[-1]}"
    )
    result["failures"] = replayed.failures
    return result


# ---------------------------------------------------------------- SKAB


@dataclasses.dataclass(frozen=True)
class SkabRefit:
    """One way of refitting on SKAB: rows between fits, and how long flags stay out."""

    fit_every: int
    flags_kept: FlagsKept = FlagsKept.UNTIL_FIT

    def name(self) -> str:
        name = f"refit every {self.fit_every} rows on the last {skab.TRAIN_ROWS}"
        if self.flags_kept is FlagsKept.IN_FIT_WINDOW:
            name += ", flags kept in the window"
        return name

    def left_out(self) -> str:
        if self.flags_kept is FlagsKept.IN_FIT_WINDOW:
            return "less those any version flagged"
        return "less those flagged since the fit before"


@dataclasses.dataclass(frozen=True)
class Files:
    """Which SKAB experiment files a run takes (every `stride`-th from `offset`), and the
    seconds it may run."""

    stride: int = 1
    offset: int = 0
    time_limit_s: float | None = None

    def chosen(self, paths: list[Path], quick: bool) -> list[Path]:
        return paths[self.offset :: self.stride][: skab.QUICK_FILES if quick else None]

    def note(self) -> str:
        """` (every 2nd experiment file)`, ` (every 2nd experiment file from the 2nd)`;
        nothing when every file is run."""
        if self.stride == 1 and self.offset == 0:
            return ""
        every = f"every {ordinal(self.stride)} " if self.stride > 1 else "every "
        start = f" from the {ordinal(self.offset + 1)}" if self.offset else ""
        return f" ({every}experiment file{start})"

    def out_of_time(self, done: int, spent_s: float) -> bool:
        """Whether a file of the mean time so far would end past the limit."""
        if self.time_limit_s is None or done == 0:
            return False
        return spent_s * (done + 1) / done > self.time_limit_s


def ordinal(n: int) -> str:
    """`1st`, `2nd`, `3rd`, `11th`."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def skab_replay(
    root: Path,
    options: TrainingOptions,
    refits: list[SkabRefit],
    files: Files,
    quick: bool,
    out: Path,
) -> dict[str, Any]:
    """The fixed model and each refit on every file; after each file the figures so far are
    written to `out` (a run cut short still reports the files it finished, every model on the
    same files). No file starts that would end past the time limit: the table then pools the
    files finished."""
    result = common.new_result(
        "drift-skab", "SKAB, leaderboard protocol: fixed model and refit", root, quick
    )
    result["settings"]["rarewatch"] = options.model_dump(mode="json")
    paths = files.chosen(skab.experiment_files(root), quick)
    fixed_ratios: list[np.ndarray] = []
    refit_ratios: list[list[np.ndarray]] = [[] for _ in refits]
    fits = [0] * len(refits)
    failures: list[list[str]] = [[] for _ in refits]
    labels: list[np.ndarray] = []
    started = time.monotonic()
    for i, path in enumerate(paths):
        if files.out_of_time(i, time.monotonic() - started):
            common.log(f"drift skab: time limit, stopped after {plural(i, 'file')}")
            break
        common.log(f"drift skab {i + 1}/{len(paths)}: {path.parent.name}/{path.name}")
        data = skab.load(path)
        assert data.labels is not None
        times = times_of(data)
        seed = train_detector(
            common.rows_of(data, slice(0, skab.TRAIN_ROWS), labelled=False), options
        )
        fixed_ratios.append(
            scored(Detector.from_trained(seed, "fixed"), data.values, skab.TRAIN_ROWS, data.n_rows)
        )
        step = np.median(np.diff(times))
        for k, way in enumerate(refits):
            common.log(f" {way.name()}")
            replayed = replay(
                data,
                times,
                seed,
                skab.TRAIN_ROWS,
                data.n_rows,
                way.fit_every * step,
                skab.TRAIN_ROWS * step,
                way.flags_kept,
            )
            refit_ratios[k].append(replayed.ratios)
            failures[k] += replayed.failures
            fits[k] += replayed.fits
        labels.append(data.labels[skab.TRAIN_ROWS :])
        which = f"{len(labels)} of {len(paths)} files{files.note()}"
        result["rows"] = [
            *(
                skab.pooled_rows(
                    way.name(),
                    refit_ratios[k],
                    labels,
                    f"{which}; per file the fixed model in use from row {skab.TRAIN_ROWS}, "
                    f"then every {way.fit_every} rows a new version on the last "
                    f"{skab.TRAIN_ROWS} rows {way.left_out()} "
                    f"({plural(fits[k], 'fit')} in all, {len(failures[k])} failed)",
                )
                for k, way in enumerate(refits)
            ),
            skab.pooled_rows(
                "fixed model",
                fixed_ratios,
                labels,
                f"per file, fitted on rows 0-{skab.TRAIN_ROWS - 1} (the leaderboard protocol)",
            ),
            *common.trivial_rows(np.concatenate(labels)),
        ]
        result["failures"] = [reason for reasons in failures for reason in reasons]
        partial = {**result, "seconds": round(time.monotonic() - result["started"], 1)}
        partial.pop("started")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(partial, indent=2, default=str) + "\n")
    return result


# ---------------------------------------------------------------- the document


def write_doc(doc: Path, results: list[dict[str, Any]], header: str) -> None:
    body = header + "\n" + "".join(common.render(r, heading="####") + "\n" for r in results)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.write_text(replace_between(text, DRIFT, body))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder with processminer/ and skab/")
    common.add_common_arguments(parser)
    parser.add_argument("--only", choices=PARTS, help="one part (default: both)")
    parser.add_argument("--days", default=",".join(map(str, DAYS_TRIED)), help="N tried")
    parser.add_argument(
        "--skab-fit-every", default="250", help="rows between SKAB fits (a comma list: a row each)"
    )
    kinds = ", ".join(kind.value for kind in FlagsKept)
    parser.add_argument(
        "--skab-flags-kept",
        default=FlagsKept.UNTIL_FIT.value,
        help=f"the watch's flags_kept for SKAB's refits ({kinds}; a comma list: a row each)",
    )
    parser.add_argument(
        "--skab-stride", type=int, default=1, help="every K-th SKAB file only (a shorter run)"
    )
    parser.add_argument(
        "--skab-offset", type=int, default=0, help="the first SKAB file taken (0: the first)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="seconds: SKAB starts no file that would end past them (at the mean file so far)",
    )
    parser.add_argument(
        "--choice-days",
        type=int,
        default=CHOICE_DAYS,
        help="the training part's last days replayed to choose N",
    )
    parser.add_argument("--results", type=Path, default=RESULTS / "drift")
    parser.add_argument("--doc", type=Path, help=f"write the section into this (e.g. {DOC})")
    parser.add_argument(
        "--from-results", action="store_true", help="fit nothing: write --doc from the JSON"
    )
    args = parser.parse_args(argv)
    options = common.with_settings(TrainingOptions(), args.settings)
    if args.quick:
        options = options.changed(epochs=min(options.epochs, 2))
    parts = [args.only] if args.only else list(PARTS)
    results = []
    for part in parts:
        out = args.results / f"{part}.json"
        if args.from_results:
            results.append(json.loads(out.read_text()))
            continue
        if part == "sheet-breaks":
            days = tuple(int(d) for d in args.days.split(","))
            path = args.data / "processminer" / "sheet-breaks.csv"
            result = sheet_breaks(
                path, options, days[:1] if args.quick else days, args.choice_days, args.quick
            )
        else:
            refits = [
                SkabRefit(int(every), FlagsKept(kept))
                for kept in args.skab_flags_kept.split(",")
                for every in args.skab_fit_every.split(",")
            ]
            files = Files(args.skab_stride, args.skab_offset, args.time_limit)
            result = skab_replay(args.data / "skab", options, refits, files, args.quick, out)
        common.finish(result, out)
        results.append(json.loads(out.read_text()))
    if args.doc is not None:
        write_doc(args.doc, results, "")


if __name__ == "__main__":
    main()
