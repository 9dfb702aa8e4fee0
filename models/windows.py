"""Temporalize a (n_rows, n_features) series into overlapping windows, as a strided view."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.errors import InvalidInput, NotEnoughRows
from models.wording import plural


def n_windows(n_rows: int, lookback: int, stride: int = 1) -> int:
    """How many windows `temporalize` makes from n_rows rows (0 when there are too few)."""
    if n_rows < lookback:
        return 0
    return (n_rows - lookback) // stride + 1


def temporalize(values: np.ndarray, lookback: int, stride: int = 1) -> np.ndarray:
    """Windows of `lookback` consecutive rows: window k holds rows k*stride .. k*stride+lookback-1.

    values  # (n_rows, n_features)
    returns # (n_windows, lookback, n_features), a read-only view of `values` (no copy)

    A window's result belongs to its last row. Unlike the article's helper, which yields
    n_rows - lookback - 1 windows and skips the first two rows, this yields every window:
    n_rows - lookback + 1 of them for stride 1.
    """
    if values.ndim != 2:
        raise InvalidInput(f"expected a 2-D array of rows x features, got {values.ndim} dimensions")
    if lookback < 1 or stride < 1:
        raise InvalidInput(f"lookback and stride must be >= 1, got {lookback} and {stride}")
    n_rows = values.shape[0]
    if n_rows < lookback:
        raise NotEnoughRows(
            f"{plural(n_rows, 'row')} given, at least {lookback} (the lookback) are needed"
        )
    if n_rows == lookback:  # one window, the dashboard refresh's case: no view machinery
        window = values[None]
        window.flags.writeable = False  # read-only, as every other answer of this function
        return window
    # sliding_window_view puts the window axis last: (n_windows, n_features, lookback).
    windows = sliding_window_view(values, lookback, axis=0)[::stride]
    return windows.transpose(0, 2, 1)


class WindowTransform(StrEnum):
    """What is done to each scaled window before the network sees it."""

    NONE = "none"
    # subtract each window's own mean, per feature: a level shift between training and scoring
    # (drift) vanishes; the network reconstructs only the movement inside the window
    CENTER = "center"
    # each row minus the row before it, per feature (the first row of a window has no row
    # before it inside the window: 0); a level shift shows only at its step, slow drift vanishes
    DIFFERENCE = "difference"


def transform_windows(windows: np.ndarray, transform: WindowTransform) -> np.ndarray:
    """windows  # (n_windows, lookback, n_features) -> the same shape (a new array unless NONE)"""
    if transform is WindowTransform.CENTER:
        return windows - windows.mean(axis=1, keepdims=True)
    if transform is WindowTransform.DIFFERENCE:
        differences = np.zeros_like(windows)
        differences[:, 1:] = windows[:, 1:] - windows[:, :-1]
        return differences
    return windows


def window_end_rows(n_rows: int, lookback: int, stride: int = 1) -> np.ndarray:
    """The index of each window's last row, the row its result belongs to."""
    return np.arange(lookback - 1, n_rows, stride)[: n_windows(n_rows, lookback, stride)]
