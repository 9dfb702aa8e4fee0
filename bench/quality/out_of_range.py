"""How often scored windows lie far outside the training range, and what that says about labels.

    .venv/bin/python -m bench.quality.out_of_range ../shared/data --write docs/benchmarks.md

Two cases where the issue saw a model score data unlike its training data: SKAB's
anomaly-free file trains a model that scores every experiment file (valve1/, valve2/, other/),
and a NAB traffic speed model, trained on the first half of its own series, scores that series,
another speed sensor, a travel-time and an occupancy series (all have one column `value`).
For each group, windows (labelled by their last row, as everywhere in rarewatch) are counted
out of range at several distances (models.data_quality.assess), against the labels and the
model's own alarms; the last columns show what alarming on out-of-range windows too would do.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from bench.quality import common
from bench.quality.nab import WINDOWS, nab_series
from bench.quality.skab import experiment_files
from bench.quality.skab import load as load_skab
from bench.report import replace_section
from models.data import Dataset
from models.data_quality import FAR_SPREADS, TrainingStats, assess
from models.detector import Detector
from models.spec import TrainingOptions

DISTANCES = (1.0, 2.0, 3.0, 5.0)  # training spreads beyond the range, fixed before any run
NAB_MODEL = "realTraffic/speed_6005.csv"
NAB_SCORED = (
    "realTraffic/speed_6005.csv",
    "realTraffic/speed_7578.csv",
    "realTraffic/TravelTime_387.csv",
    "realTraffic/occupancy_6005.csv",
)
MARKERS = ("<!-- out-of-range:begin -->", "<!-- out-of-range:end -->")


def counts(detector: Detector, data: Dataset) -> dict[str, np.ndarray]:
    """Per window: its label, the model's alarm and the out-of-range flag at each distance."""
    stats = TrainingStats.of(detector.spec)
    detection = detector.detect(data.values)
    assert data.labels is not None
    found: dict[str, np.ndarray] = {
        "label": data.labels[detection.window_end_rows].astype(bool),
        "alarm": np.asarray(detection.is_anomaly, dtype=bool),
    }
    for distance in DISTANCES:
        verdict = assess(
            data.values, stats, detector.lookback, timestamps=data.times, far_spreads=distance
        )
        found[f"far {distance:g}"] = verdict.windows_out_of_range
    return found


def group_row(name: str, parts: list[dict[str, np.ndarray]]) -> dict[str, object]:
    pooled = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    label, alarm = pooled["label"], pooled["alarm"]
    row: dict[str, object] = {
        "group": name,
        "windows": len(label),
        "labelled": int(label.sum()),
        "alarms": int(alarm.sum()),
        "alarm precision": _share(label[alarm]),
        "alarm recall": _share(alarm[label]),
    }
    for distance in DISTANCES:
        far = pooled[f"far {distance:g}"]
        row[f"out {distance:g}"] = int(far.sum())
        row[f"out {distance:g} labelled"] = _share(label[far])
        row[f"out {distance:g} alarmed"] = _share(alarm[far])
    either = alarm | pooled[f"far {FAR_SPREADS:g}"]
    row["either precision"] = _share(label[either])
    row["either recall"] = _share(either[label])
    return row


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if len(flags) else None


def render(rows: list[dict[str, object]], result: dict[str, object]) -> str:
    head = ["group", "windows", "labelled", "alarms", "alarm precision", "alarm recall"]
    for distance in DISTANCES:
        head += [f"out {distance:g}", f"out {distance:g} labelled", f"out {distance:g} alarmed"]
    head += ["either precision", "either recall"]
    lines = [
        "### Out-of-range input (issue 18)",
        "",
        "Windows holding a value more than *d* training spreads (the scaler's scale) outside a "
        "feature's training range (`out d`), the share of them labelled anomalous "
        "(`labelled`) and the share the model alarms on anyway (`alarmed`); `either`: alarms "
        f"on a model alarm or a window out by more than {FAR_SPREADS:g} spreads (the default "
        "of `models.data_quality.FAR_SPREADS`).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for row in rows:
        cells = [_cell(row[key]) for key in head]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *[f"- {note}" for note in result["notes"]]]  # type: ignore[attr-defined]
    lines.append(
        f"- command: `{result['command']}` ({result['seconds']} s); commit {result['commit']}; "
        f"{result['date']}"
    )
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data folder (skab/, nab/)")
    parser.add_argument("--epochs", type=int, default=50, help="at most (default: 50)")
    parser.add_argument("--write", type=Path, help="put the section into this markdown file")
    args = parser.parse_args(argv)
    result = common.new_result("out-of-range", "Out-of-range input", args.data, quick=False)
    options = TrainingOptions().changed(epochs=args.epochs)
    rows = []

    free = load_skab(args.data / "skab" / "anomaly-free" / "anomaly-free.csv")
    common.log("training on SKAB's anomaly-free file")
    skab_model = common.fitted_detector(free, options)
    groups: dict[str, list[dict[str, np.ndarray]]] = {}
    for path in experiment_files(args.data / "skab"):
        groups.setdefault(path.parent.name, []).append(
            counts(skab_model, load_skab(path, skab_model.features))
        )
    for group, parts in groups.items():
        rows.append(group_row(f"SKAB {group}/ ({len(parts)} files)", parts))

    nab = args.data / "nab"
    windows = json.loads((nab / WINDOWS).read_text())
    own = nab_series(nab, NAB_MODEL, windows)
    half = own.n_rows // 2
    assert own.labels is not None
    assert not own.labels[:half].any()
    common.log(f"training on the first {half} rows of NAB's {NAB_MODEL}")
    nab_model = common.fitted_detector(common.rows_of(own, slice(0, half)), options)
    for name in NAB_SCORED:
        series = nab_series(nab, name, windows)
        rows.append(group_row(f"NAB {name}", [counts(nab_model, series)]))

    result["notes"] = [
        "SKAB: one model (default options) trained on anomaly-free/anomaly-free.csv scores every "
        "experiment file whole; labels from each file's `anomaly` column",
        f"NAB: one model (default options) trained on the first {half} rows of {NAB_MODEL} "
        "(no labelled row among them) scores each series whole, its own included; labels 1 "
        "inside the published anomaly windows (combined_windows.json)",
        f"training: at most {args.epochs} epochs, early stopping as `rarewatch train`",
    ]
    result["seconds"] = round(time.monotonic() - result.pop("started"), 1)
    report = render(rows, result)
    print(report)
    if args.write is not None:
        replace_section(args.write, MARKERS, report, "Benchmarks")


if __name__ == "__main__":
    main()
