"""Checks on training data before any fitting: rows enough for the split, label-like features."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.data import Dataset, label_before_events
from models.errors import NotEnoughRows
from models.spec import TrainingOptions
from models.wording import plural

# column names that usually hold the answer rather than a measurement, matched as a word of the
# name (`is_anomaly`, `AnomalyLabel`); `y` only as the whole name, since `accel_y` is a measurement
LABEL_WORDS = frozenset(
    {"anomaly", "anomalies", "label", "labels", "changepoint", "changepoints", "target", "outlier"}
)
LABEL_NAMES = frozenset({"y"})


@dataclass(frozen=True, slots=True)
class LabelLikeColumn:
    """A feature column that looks like a label, and why."""

    column: str
    reason: str  # "its name" or "only 0/1 values"

    def message(self) -> str:
        name = shlex.quote(self.column)
        return (
            f"feature column {self.column!r} looks like a label ({self.reason}); if it is one, "
            f"give --label-column {name} or --exclude {name}"
        )


def label_like_columns(features: Sequence[str], values: np.ndarray) -> list[LabelLikeColumn]:
    """The feature columns whose name or values (only 0 and 1, missing cells aside) suggest a
    label, in feature order; one finding per column, the name's reason first.

    values  # (n_rows, n_features), NaN where a cell is missing
    """
    found = []
    for i, column in enumerate(features):
        present = values[:, i][~np.isnan(values[:, i])]
        if _label_like_name(column):
            found.append(LabelLikeColumn(column, "its name"))
        elif len(present) and np.isin(present, (0.0, 1.0)).all():
            found.append(LabelLikeColumn(column, "only 0/1 values"))
    return found


def _label_like_name(column: str) -> bool:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column).lower()
    parts = re.split(r"[^a-z0-9]+", words)
    return column.strip().lower() in LABEL_NAMES or not LABEL_WORDS.isdisjoint(parts)


def split_sizes(n_rows: int, validation_fraction: float) -> tuple[int, int]:
    """(training rows, validation rows) of the chronological split, as training makes it."""
    n_validation = round(n_rows * validation_fraction)
    return n_rows - n_validation, n_validation


def rows_needed(lookback: int, validation_fraction: float) -> int:
    """The fewest rows whose split leaves a whole window in both parts."""
    # both parts grow with n_rows, so start just below the bound of the fractions and count up
    bound = (lookback - 0.5) / min(validation_fraction, 1.0 - validation_fraction)
    n_rows = max(2 * lookback, math.floor(bound) - 1)
    while min(split_sizes(n_rows, validation_fraction)) < lookback:
        n_rows += 1
    return n_rows


def check_training_rows(data: Dataset, options: TrainingOptions) -> None:
    """Refuse data too small for the split, or without an all-normal window in either part,
    saying how many rows are needed and which option to change. Pure numpy: it runs before
    TensorFlow is imported."""
    lookback, fraction = options.lookback, options.validation_fraction
    parts = dict(zip(("training", "validation"), split_sizes(data.n_rows, fraction), strict=True))
    for part, n in parts.items():
        if n < lookback:
            raise NotEnoughRows(
                f"the {part} part has {plural(n, 'row')}, fewer than the lookback ({lookback}); "
                f"{plural(data.n_rows, 'row')} in all, {rows_needed(lookback, fraction)} needed "
                f"with --lookback {lookback} and --validation-fraction {fraction}: "
                + _remedies(data.n_rows, min(parts.values()), lookback, part)
            )
    if data.labels is None:
        return
    labels = label_before_events(data.labels, options.shift) if options.shift else data.labels
    n_train = parts["training"]
    for part, rows in (("training", slice(0, n_train)), ("validation", slice(n_train, None))):
        if not _has_normal_window(labels[rows], lookback):
            shifted = f" (with --shift {options.shift})" if options.shift else ""
            raise NotEnoughRows(
                f"no window of {lookback} all-normal rows in the {part} part: the labels mark "
                f"{int(labels[rows].sum())} of its {plural(len(labels[rows]), 'row')} "
                f"anomalous{shifted}; give more normal rows, a smaller --lookback"
                + (", a smaller --shift" if options.shift else "")
                + " or another --validation-fraction"
            )


def _remedies(n_rows: int, shortest_part: int, lookback: int, short_part: str) -> str:
    remedies = ["give more rows"]
    if shortest_part >= 1:
        remedies.append(f"a --lookback of at most {shortest_part}")
    if n_rows >= 2 * lookback:  # a fraction can give both parts a window
        larger = "larger" if short_part == "validation" else "smaller"
        remedies.append(f"a {larger} --validation-fraction")
    return ", ".join(remedies[:-1]) + " or " + remedies[-1] if len(remedies) > 1 else remedies[0]


def _has_normal_window(labels: np.ndarray, lookback: int) -> bool:
    """Whether `lookback` consecutive rows labelled 0 exist. labels  # (n_rows,) 0/1"""
    if len(labels) < lookback:
        return False
    anomalous = np.concatenate(([0], np.cumsum(labels != 0)))
    return bool((anomalous[lookback:] - anomalous[:-lookback] == 0).any())
