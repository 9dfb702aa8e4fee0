"""Read CSV or Parquet tables and pick out features, labels and times, refusing bad cells.

Missing cells (models.input_contract's spellings, Parquet nulls) become NaN and are filled later
by the model's fill policy; the time column is checked by the same rule as the API's timestamps.
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import InvalidInput, InvalidLabels, NonFiniteValues
from models.input_contract import MISSING_SPELLINGS, check_timestamps, parse_time
from models.wording import listed, noun

PARQUET_SUFFIXES = {".parquet", ".pq"}
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Dataset:
    features: list[str]
    values: np.ndarray  # (n_rows, n_features) float64, finite or NaN where missing
    labels: np.ndarray | None  # (n_rows,) int8 in {0, 1}
    times: pd.Series | None  # (n_rows,) the time column as given, checked
    time_column: str | None
    label_column: str | None
    notes: tuple[str, ...] = ()  # what was assumed in reading it (a time zone)

    @property
    def n_rows(self) -> int:
        return len(self.values)


def read_table(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                sep=_sniff_delimiter(path),
                keep_default_na=False,
                na_values=list(MISSING_SPELLINGS),
            )
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{path}: cannot be read as a table: {first_line}") from exc
    if frame.empty:
        raise InvalidInput(f"{path}: has no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _sniff_delimiter(path: Path) -> str:
    with path.open("r", newline="", errors="replace") as f:
        sample = f.read(SNIFF_BYTES)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def select(
    frame: pd.DataFrame,
    *,
    time_column: str | None = None,
    label_column: str | None = None,
    features: list[str] | None = None,
    exclude: list[str] | None = None,
) -> Dataset:
    """Feature columns default to every column but the time and label columns and `exclude`."""
    named = [c for c in (time_column, label_column) if c] + (features or []) + (exclude or [])
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"unknown {noun(len(missing), 'column')} {', '.join(map(repr, missing))}; the data has "
            f"{listed(list(frame.columns), 12)}"
        )
    if features is None:
        skip = {time_column, label_column, *(exclude or [])}
        features = [c for c in frame.columns if c not in skip]
    if not features:
        raise InvalidInput("no feature columns are left to use")
    if len(set(features)) != len(features):
        raise InvalidInput("a feature column is named twice")
    values = np.column_stack([_numeric_column(frame, c) for c in features])
    labels = _labels(frame, label_column) if label_column else None
    times = frame[time_column].reset_index(drop=True) if time_column else None
    notes = _check_times(times, time_column) if times is not None else []
    return Dataset(features, values, labels, times, time_column, label_column, tuple(notes))


def _check_times(times: pd.Series, column: str | None) -> list[str]:
    """The API's timestamp rule on a time column; times in a file's own format (5/1/99 0:00)
    are read by pandas first, when they are not ISO 8601."""
    moments: list[object] = times.tolist()
    is_text = not pd.api.types.is_datetime64_any_dtype(times)
    if is_text and any(parse_time(t) is None for t in moments):
        # mixed zones fail whole: the contract then names the first row that is not ISO 8601
        with contextlib.suppress(ValueError, TypeError):
            moments = pd.to_datetime(times, errors="coerce", format="mixed").tolist()
    return check_timestamps(moments, lambda i: f"column {column!r}, data row {i + 1}")


def label_before_events(labels: np.ndarray, shift: int) -> np.ndarray:
    """The labels with the `shift` rows before each anomalous row marked anomalous too: the
    article's curve shift as a training option. Those rows usually already drift towards the
    event, so they are kept out of the normal windows the network learns and the threshold is
    set on. Event rows stay anomalous (unlike the article's protocol, nothing is removed).

    labels  # (n_rows,) 0/1 -> (n_rows,) int8
    """
    if shift < 0:
        raise InvalidInput(f"shift must be >= 0, got {shift}")
    marked = np.asarray(labels, dtype=np.int8).copy()
    events = np.flatnonzero(marked == 1)
    for k in range(1, shift + 1):
        before = events - k
        marked[before[before >= 0]] = 1
    return marked


def time_span(data: Dataset) -> tuple[str | None, str | None]:
    """First and last time as ISO 8601, or the raw text when it cannot be parsed as times."""
    if data.times is None or len(data.times) == 0:
        return None, None
    ends = data.times.iloc[[0, -1]]
    try:
        parsed = pd.to_datetime(ends, format="mixed")
        return parsed.iloc[0].isoformat(), parsed.iloc[1].isoformat()
    except (ValueError, TypeError):
        return str(ends.iloc[0]), str(ends.iloc[1])


def _numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(np.int8)
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers) & ~raw.isna().to_numpy()  # a missing cell is not a bad one
    if bad.any():
        row = int(np.argmax(bad))
        cell = raw.iloc[row]
        kind = NonFiniteValues if _is_number_like(cell) else InvalidInput
        described = f"{str(cell)[:40]!r}"
        raise kind(
            f"column {column!r}, data row {row + 1}: {described} is not a finite number"
            + (
                ""
                if kind is NonFiniteValues
                else "; if it is not a feature, name it as the time column or exclude it"
            )
        )
    return numbers


def _is_number_like(cell: object) -> bool:
    try:
        float(str(cell))
    except ValueError:
        return False
    return True


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    bad = ~np.isin(numbers, (0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidLabels(
            f"label column {column!r}, data row {row + 1}: "
            f"{str(frame[column].iloc[row])[:40]!r} is not 0 or 1"
        )
    return numbers.astype(np.int8)
