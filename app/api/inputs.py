"""From a validated request body to arrays in the model's feature order, and checked timestamps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence, Sized
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from app.api.numeric_body import NumericRows
from app.api.problems import InvalidTimestamps
from app.api.schemas import DetectRequest, WindowsRequest
from models.errors import FeatureMismatch, InvalidInput, NotEnoughRows
from models.wording import plural


@dataclass(frozen=True, slots=True)
class Rows:
    values: np.ndarray  # (n_rows, n_features) float64, in the model's feature order
    timestamps: list[str] | None  # (n_rows,) as sent, checked


def rows_of(body: DetectRequest, features: list[str]) -> Rows:
    if (body.values is None) == (body.series is None):
        raise InvalidInput("send the rows either as `values` or as `series`, exactly one of them")
    if body.series is not None:
        if body.columns is not None:
            raise InvalidInput("`columns` goes with `values`; `series` names its own features")
        values = _series_values(body.series, features)
    else:
        assert body.values is not None
        values = _row_values(body.values, body.columns, features)
    timestamps = body.timestamps
    if timestamps is not None:
        check_timestamps(timestamps, len(values))
    return Rows(values, timestamps)


def windows_of(body: WindowsRequest, features: list[str], lookback: int) -> np.ndarray:
    """windows  # (n_windows, lookback, n_features) in the model's feature order"""
    if not body.windows:
        raise NotEnoughRows("no windows given; send at least one")
    order = _column_order(body.columns, features)
    n_columns = len(features) if order is None else len(order)
    i = _first_of_other_length(body.windows, lookback)
    if i is not None:
        raise InvalidInput(
            f"window {i} has {plural(len(body.windows[i]), 'row')}; every window needs "
            f"{lookback} (the lookback)"
        )
    rows = [row for window in body.windows for row in window]
    k = _first_of_other_length(rows, n_columns)
    if k is not None:
        raise FeatureMismatch(
            f"window {k // lookback}, row {k % lookback} has {plural(len(rows[k]), 'value')}; "
            f"expected {n_columns}: {_features(features)}"
        )
    windows = np.array(body.windows, dtype=np.float64)
    return windows if order is None else windows[:, :, order]


def check_timestamps(timestamps: list[str], n_rows: int) -> None:
    if len(timestamps) != n_rows:
        raise InvalidTimestamps(
            f"{plural(len(timestamps), 'timestamp')} for {plural(n_rows, 'row')}; "
            "send one timestamp per row"
        )
    previous: datetime | None = None
    for i, text in enumerate(timestamps):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidTimestamps(
                f"timestamps[{i}] is not an ISO 8601 time (e.g. 2026-01-01T00:00:00Z)"
            ) from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidTimestamps(
                f"timestamps[{i}] has no time zone; add Z or an offset such as +01:00"
            )
        if previous is not None and moment <= previous:
            how = "repeats" if moment == previous else "is earlier than"
            raise InvalidTimestamps(
                f"timestamps[{i}] {how} timestamps[{i - 1}]; timestamps must strictly increase"
            )
        previous = moment


def _row_values(
    rows: list[list[float]] | NumericRows, columns: list[str] | None, features: list[str]
) -> np.ndarray:
    order = _column_order(columns, features)
    n_columns = len(features) if order is None else len(order)
    if isinstance(rows, NumericRows):  # rectangular already: every row has the first's length
        i = None if rows.n_columns == n_columns else 0
        row_length = rows.n_columns
    else:
        i = _first_of_other_length(rows, n_columns)
        row_length = 0 if i is None else len(rows[i])
    if i is not None:
        given = "" if columns is None else f" ({plural(len(columns), 'column')} named)"
        raise FeatureMismatch(
            f"row {i} has {plural(row_length, 'value')}, expected {n_columns}{given}; the model's "
            f"features are {_features(features)}"
        )
    if isinstance(rows, NumericRows):
        values = rows.array
    else:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), n_columns)
    return values if order is None else values[:, order]


def _series_values(series: dict[str, list[float]], features: list[str]) -> np.ndarray:
    _check_names(list(series), features, "series")
    n_rows = len(series[features[0]])
    for feature in features:
        if len(series[feature]) != n_rows:
            raise InvalidInput(
                f"series {feature!r} has {plural(len(series[feature]), 'value')} but "
                f"{features[0]!r} has {n_rows}; every feature needs one value per row"
            )
    values = np.empty((n_rows, len(features)), dtype=np.float64)
    for j, feature in enumerate(features):
        values[:, j] = series[feature]
    return values


def _first_of_other_length(items: Sequence[Sized], length: int) -> int | None:
    """The index of the first item whose length is not `length` (lengths counted in C)."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    wrong = np.flatnonzero(lengths != length)
    return int(wrong[0]) if len(wrong) else None


def _column_order(columns: list[str] | None, features: list[str]) -> list[int] | None:
    """Where each model feature sits among `columns`; None when there is nothing to reorder."""
    if columns is None or columns == features:
        return None
    _check_names(columns, features, "columns")
    return [columns.index(feature) for feature in features]


def _check_names(names: list[str], features: list[str], what: str) -> None:
    """Unknown names are given by position, `columns[3]`: an error never repeats the client's
    text. Duplicated and missing ones are model features, named as the model names them."""
    known, given = set(features), set(names)
    duplicated = [n for n, count in Counter(names).items() if count > 1 and n in known]
    unknown = [i for i, n in enumerate(names) if n not in known]
    missing = [f for f in features if f not in given]
    problems = []
    if duplicated:
        problems.append(f"duplicated: {_listed([repr(n) for n in duplicated])}")
    if unknown:
        positions = _listed([_position(what, i) for i in unknown])
        problems.append(
            f"{positions} is not a model feature"
            if len(unknown) == 1
            else f"{positions} are not model features"
        )
    if missing:
        problems.append(f"missing: {_listed([repr(n) for n in missing])}")
    if problems:
        raise FeatureMismatch(
            f"{what} must name every model feature exactly once ({'; '.join(problems)}); "
            f"the model's features are {_features(features)}"
        )


def _position(what: str, i: int) -> str:
    return f"{what}[{i}]" if what == "columns" else f"key {i} of {what}"


def _listed(items: list[str], shown: int = 5) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def _features(features: list[str]) -> str:
    return ", ".join(features)
