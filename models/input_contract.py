"""The input contract the CLI and the API share: missing values and their fill, timestamps.

A missing value is a NaN in a float array: an empty CSV cell or one spelled as in
MISSING_SPELLINGS, a Parquet null, a JSON null. Infinity and numbers past a double stay refused
where they are read. A fill policy fills gaps of at most `max_gap` rows per feature; a longer
gap is left missing whole (never half-filled), and a window that holds a missing value is not
scored. Timestamps without a zone are read as UTC; they must strictly increase.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np

from models.errors import InvalidInput, InvalidTimestamps
from models.wording import plural

# Cell texts read as a missing value (an empty cell too), in CSV files; compared as given, so
# both the usual cases of each are listed.
MISSING_SPELLINGS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "Null")


class FillMethod(StrEnum):
    LINEAR = "linear"  # a straight line between the values on either side of the gap
    PREVIOUS = "previous"  # the value before the gap carried forward
    ZERO = "zero"  # 0, in the feature's own units
    FIXED = "fixed"  # a given value, in the feature's own units: fixed:<value>
    NONE = "none"  # nothing filled: every window with a missing value goes unscored


FILL_CHOICES = "linear, previous, zero, fixed:<value> or none"


@dataclass(frozen=True, slots=True)
class FillPolicy:
    method: FillMethod
    max_gap: int  # the longest run of missing rows in one feature that is filled
    value: float = 0.0  # FIXED's value

    @classmethod
    def of(cls, text: str, max_gap: int) -> FillPolicy:
        """`linear`, `previous`, `zero`, `fixed:<value>` or `none`; a bad one is InvalidInput."""
        name, _, argument = text.strip().partition(":")
        try:
            method = FillMethod(name.strip().lower())
        except ValueError:
            raise InvalidInput(f"fill must be {FILL_CHOICES}") from None
        if max_gap < 0:
            raise InvalidInput(f"max_gap must be >= 0, got {max_gap}")
        if method is not FillMethod.FIXED:
            if argument:
                raise InvalidInput(f"fill {method.value} takes no value; only fixed:<value> does")
            return cls(method, max_gap)
        try:
            value = float(argument)
        except ValueError:
            raise InvalidInput("fill fixed needs a finite number, e.g. fixed:0.5") from None
        if not math.isfinite(value):
            raise InvalidInput("fill fixed needs a finite number, e.g. fixed:0.5")
        return cls(method, max_gap, value)

    @property
    def text(self) -> str:
        """The policy as `of` reads it."""
        return f"fixed:{self.value:g}" if self.method is FillMethod.FIXED else self.method.value

    def unscored_reason(self) -> str:
        """What a result says when its window still holds a missing value."""
        if self.method is FillMethod.NONE or self.max_gap == 0:
            return "missing values, not filled (fill none or max_gap 0)"
        return f"a gap longer than max_gap ({plural(self.max_gap, 'row')}) was not filled"


@dataclass(frozen=True, slots=True)
class FillReport:
    """What a fill did, for answers and for a data-quality verdict: cells filled and cells
    still missing, per row and feature."""

    filled: np.ndarray  # (n_rows, n_features) bool: missing, then filled
    missing: np.ndarray  # (n_rows, n_features) bool: missing still (a long gap, or none)

    @property
    def filled_per_feature(self) -> np.ndarray:
        """(n_features,) cells filled"""
        return self.filled.sum(axis=0)

    @property
    def missing_per_feature(self) -> np.ndarray:
        """(n_features,) cells left missing"""
        return self.missing.sum(axis=0)

    @property
    def filled_rows(self) -> np.ndarray:
        """(n_rows,) bool: a row with at least one filled cell"""
        return np.asarray(self.filled.any(axis=1))


def fill_missing(values: np.ndarray, policy: FillPolicy) -> tuple[np.ndarray, FillReport | None]:
    """values  # (n_rows, n_features), NaN where missing -> filled copy and its report

    Complete values come back as they are, with no report (the common case stays cheap)."""
    missing = np.isnan(values)
    if not missing.any():
        return values, None
    filled_values = np.array(values, dtype=np.float64, copy=True)
    left = missing.copy()
    if policy.method is not FillMethod.NONE and policy.max_gap > 0:
        for j in np.flatnonzero(missing.any(axis=0)):
            _fill_column(filled_values[:, j], left[:, j], policy)
    return filled_values, FillReport(missing & ~left, left)


def _fill_column(column: np.ndarray, left: np.ndarray, policy: FillPolicy) -> None:
    """Fill the gaps of one feature no longer than max_gap, in place; `left` keeps the rest.
    Linear and previous fill a gap at the start from the first value after it, and linear a gap
    at the end from the last value before it: there is no second value to draw a line to."""
    known = np.flatnonzero(~left)
    if len(known) == 0:
        return  # a feature with no value at all: nothing to fill from
    rows = np.flatnonzero(_short_gaps(left, policy.max_gap))
    if policy.method is FillMethod.ZERO:
        column[rows] = 0.0
    elif policy.method is FillMethod.FIXED:
        column[rows] = policy.value
    elif policy.method is FillMethod.LINEAR:  # np.interp holds the end values past the ends
        column[rows] = np.interp(rows, known, column[known])
    else:  # previous: the nearest value before (at the start, the first one after)
        column[rows] = column[known[np.maximum(np.searchsorted(known, rows) - 1, 0)]]
    left[rows] = False


def _short_gaps(missing: np.ndarray, max_gap: int) -> np.ndarray:
    """(n_rows,) bool: the rows of each run of missing rows no longer than max_gap"""
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # ends: past the run
    short = ends - starts <= max_gap
    marks = np.zeros(len(missing) + 1, dtype=np.int64)
    np.add.at(marks, starts[short], 1)
    np.add.at(marks, ends[short], -1)
    return np.cumsum(marks)[:-1] > 0


def window_shares(report: FillReport | None, end_rows: np.ndarray, lookback: int) -> np.ndarray:
    """Each window's share of filled cells.

    end_rows  # (n_windows,) each window's last row -> filled share (n_windows,) float64"""
    if report is None:
        return np.zeros(len(end_rows))
    return _window_means(report.filled, end_rows, lookback)


def unscored_windows(
    report: FillReport | None, end_rows: np.ndarray, lookback: int
) -> np.ndarray | None:
    """(n_windows,) bool: the windows holding a missing value; None when there is none."""
    if report is None or not report.missing.any():
        return None
    return _window_means(report.missing, end_rows, lookback) > 0


def _window_means(cells: np.ndarray, end_rows: np.ndarray, lookback: int) -> np.ndarray:
    """The mean of `cells` (n_rows, n_features) over each window's cells, via running sums."""
    per_row = np.concatenate(([0], np.cumsum(cells.sum(axis=1))))
    ends = np.asarray(end_rows, dtype=np.int64) + 1
    return np.asarray((per_row[ends] - per_row[ends - lookback]) / (lookback * cells.shape[1]))


# --------------------------------------------------------------------------- timestamps

NO_ZONE_NOTE = "timestamps without a time zone were read as UTC"


def check_timestamps(
    times: Sequence[object], name: Callable[[int], str], n_rows: int | None = None
) -> list[str]:
    """Refuse timestamps that are not ISO 8601 or do not strictly increase, naming the first
    such row by `name(i)`; a time without a zone is read as UTC. Returns the notes to give.

    times  # (n_rows,) ISO 8601 text, or datetimes (a Parquet or pandas time column)"""
    if n_rows is not None and len(times) != n_rows:
        raise InvalidTimestamps(
            f"{plural(len(times), 'timestamp')} for {plural(n_rows, 'row')}; "
            "send one timestamp per row"
        )
    previous: datetime | None = None
    zoneless = False
    for i, time in enumerate(times):
        moment = parse_time(time)
        if moment is None:
            raise InvalidTimestamps(
                f"{name(i)} is not an ISO 8601 time (e.g. 2026-01-01T00:00:00Z)"
            )
        if moment.tzinfo is None or moment.utcoffset() is None:
            zoneless = True
            moment = moment.replace(tzinfo=UTC)
        if previous is not None and moment <= previous:
            how = "repeats" if moment == previous else "is earlier than"
            raise InvalidTimestamps(
                f"{name(i)} {how} {name(i - 1)}; timestamps must strictly increase"
            )
        previous = moment
    return [NO_ZONE_NOTE] if zoneless else []


def parse_time(time: object) -> datetime | None:
    """An ISO 8601 text or a datetime as a datetime; None for anything else (NaT included)."""
    if isinstance(time, datetime):  # pandas' Timestamp is one; NaT is not a time
        return None if time != time else time  # noqa: PLR0124 - NaT is not equal to itself
    if not isinstance(time, str):
        return None
    try:
        return datetime.fromisoformat(time.strip())
    except ValueError:
        return None
