"""From a validated request body to arrays in the model's feature order, and checked timestamps.

The input contract itself (missing values, fill policies, the timestamp rule) is
models.input_contract's, shared with the CLI; this module applies it to the request's shapes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence, Sized
from dataclasses import dataclass

import numpy as np

from app.api.numeric_body import NumericRows
from app.api.schemas import DetectRequest, FillRequest, WindowsRequest
from models.errors import FeatureMismatch, InvalidInput, NotEnoughRows
from models.input_contract import FillPolicy
from models.input_contract import check_timestamps as check_times
from models.wording import plural


@dataclass(frozen=True, slots=True)
class Rows:
    values: np.ndarray  # (n_rows, n_features) float64, in the model's feature order, NaN missing
    timestamps: list[str] | None  # (n_rows,) as sent, checked
    ignored_columns: list[str]  # columns that are no model feature, by position
    notes: list[str]  # what was assumed (a time zone)


@dataclass(frozen=True, slots=True)
class Windows:
    windows: np.ndarray  # (n_windows, lookback, n_features) in the model's order, NaN missing
    ignored_columns: list[str]


def rows_of(body: DetectRequest, features: list[str], strict: bool) -> Rows:
    """`strict`: the server's RAREWATCH_STRICT_COLUMNS, which the body's `strict` overrides."""
    if (body.values is None) == (body.series is None):
        raise InvalidInput("send the rows either as `values` or as `series`, exactly one of them")
    strict = strict if body.strict is None else body.strict
    if body.series is not None:
        if body.columns is not None:
            raise InvalidInput("`columns` goes with `values`; `series` names its own features")
        values, ignored = _series_values(body.series, features, strict)
    else:
        assert body.values is not None
        values, ignored = _row_values(body.values, body.columns, features, strict)
    timestamps = body.timestamps
    notes = [] if timestamps is None else check_timestamps(timestamps, len(values))
    return Rows(values, timestamps, ignored, notes)


def fill_of(body: DetectRequest | WindowsRequest, model_fill: FillPolicy) -> FillPolicy | None:
    """The request's own fill policy, or None for the model's."""
    if body.fill is None:
        return None
    if isinstance(body.fill, FillRequest):
        max_gap = model_fill.max_gap if body.fill.max_gap is None else body.fill.max_gap
        return FillPolicy.of(body.fill.method, max_gap)
    return FillPolicy.of(body.fill, model_fill.max_gap)


def windows_of(body: WindowsRequest, features: list[str], lookback: int, strict: bool) -> Windows:
    """windows  # (n_windows, lookback, n_features) in the model's feature order"""
    if not body.windows:
        raise NotEnoughRows("no windows given; send at least one")
    strict = strict if body.strict is None else body.strict
    order, ignored = _column_order(body.columns, features, strict)
    n_columns = len(features) if body.columns is None else len(body.columns)
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
    return Windows(windows if order is None else windows[:, :, order], ignored)


def check_timestamps(timestamps: list[str], n_rows: int) -> list[str]:
    """The contract's timestamp rule, rows named as `timestamps[i]`; returns its notes."""
    return check_times(timestamps, lambda i: f"timestamps[{i}]", n_rows)


def _row_values(
    rows: list[list[float | None]] | NumericRows,
    columns: list[str] | None,
    features: list[str],
    strict: bool,
) -> tuple[np.ndarray, list[str]]:
    order, ignored = _column_order(columns, features, strict)
    n_columns = len(features) if columns is None else len(columns)
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
    else:  # a null becomes NaN: a missing value
        values = np.array(rows, dtype=np.float64).reshape(len(rows), n_columns)
    return (values if order is None else values[:, order]), ignored


def _series_values(
    series: dict[str, list[float | None]], features: list[str], strict: bool
) -> tuple[np.ndarray, list[str]]:
    ignored = _check_names(list(series), features, "series", strict)
    n_rows = len(series[features[0]])
    for feature in features:
        if len(series[feature]) != n_rows:
            raise InvalidInput(
                f"series {feature!r} has {plural(len(series[feature]), 'value')} but "
                f"{features[0]!r} has {n_rows}; every feature needs one value per row"
            )
    values = np.empty((n_rows, len(features)), dtype=np.float64)
    for j, feature in enumerate(features):
        values[:, j] = series[feature]  # a null becomes NaN: a missing value
    return values, ignored


def _first_of_other_length(items: Sequence[Sized], length: int) -> int | None:
    """The index of the first item whose length is not `length` (lengths counted in C)."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    wrong = np.flatnonzero(lengths != length)
    return int(wrong[0]) if len(wrong) else None


def _column_order(
    columns: list[str] | None, features: list[str], strict: bool
) -> tuple[list[int] | None, list[str]]:
    """Where each model feature sits among `columns` (None when there is nothing to reorder),
    and the columns ignored."""
    if columns is None or columns == features:
        return None, []
    ignored = _check_names(columns, features, "columns", strict)
    return [columns.index(feature) for feature in features], ignored


def _check_names(names: list[str], features: list[str], what: str, strict: bool) -> list[str]:
    """The names that are no model feature, by position (`columns[3]`): ignored, or refused
    when `strict`. An answer never repeats the client's text; duplicated and missing names are
    model features, named as the model names them."""
    known, given = set(features), set(names)
    duplicated = [n for n, count in Counter(names).items() if count > 1 and n in known]
    unknown = [i for i, n in enumerate(names) if n not in known]
    missing = [f for f in features if f not in given]
    problems = []
    if duplicated:
        problems.append(f"duplicated: {_listed([repr(n) for n in duplicated])}")
    if unknown and strict:
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
    return [_position(what, i) for i in unknown]


def _position(what: str, i: int) -> str:
    return f"{what}[{i}]" if what == "columns" else f"key {i} of {what}"


def _listed(items: list[str], shown: int = 5) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def _features(features: list[str]) -> str:
    return ", ".join(features)
