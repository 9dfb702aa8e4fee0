"""The `results` array of a detection answer written straight to JSON bytes, without a Python
dict per window.

For 10,000 windows the plain way (a dict per window, one per top feature, then orjson) takes a
few times longer (`python -m bench.perf.breakdown` times both). Every number is written by
orjson from the numpy arrays (the same digits orjson writes for the same Python float), every
name by orjson, and the pieces of all windows are laid side by side with slice assignments and
joined once. tests/app check the bytes against orjson's for the same answer built from dicts.
"""

from __future__ import annotations

import functools

import numpy as np
import orjson


def _texts(values: np.ndarray) -> list[bytes]:
    """Each element of a 1-D numeric or bool array as orjson writes it."""
    if len(values) == 0:
        return []
    contiguous = np.ascontiguousarray(values)  # orjson writes C-contiguous arrays only
    return orjson.dumps(contiguous, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


@functools.lru_cache(maxsize=64)
def _feature_prefixes(features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The text before each top feature's share, `{"feature":NAME,"share":`, for the first top
    feature of a window and (after a comma) for the others; made once per model."""
    first = [b'{"feature":' + orjson.dumps(name) + b',"share":' for name in features]
    return np.array(first, dtype=object), np.array([b"," + t for t in first], dtype=object)


def results_json(
    rows: np.ndarray,
    timestamps: list[str | None],
    scores: np.ndarray,
    is_anomaly: np.ndarray,
    severity: np.ndarray,
    top: np.ndarray,
    top_shares: np.ndarray,
    features: list[str],
) -> orjson.Fragment:
    """The JSON array of results, one object per window, in the schema's key order.

    rows, scores, is_anomaly, severity  # (n_windows,)
    timestamps  # (n_windows,) the time of each window's row, or None
    top, top_shares  # (n_windows, k): each window's top features (indices) and their shares
    """
    n_windows, k = top.shape
    if n_windows == 0:
        return orjson.Fragment(b"[]")
    first, rest = _feature_prefixes(tuple(features))
    times = [b"null" if t is None else orjson.dumps(t) for t in timestamps]
    columns: list[list[bytes]] = [
        [b',{"index":'] * n_windows,
        _texts(rows),
        [b',"timestamp":'] * n_windows,
        times,
        [b',"score":'] * n_windows,
        _texts(scores),
        [b',"is_anomaly":'] * n_windows,
        _texts(is_anomaly),
        [b',"severity":'] * n_windows,
        _texts(severity),
        [b',"top_features":['] * n_windows,
    ]
    for rank in range(k):
        names = first if rank == 0 else rest
        columns += [names[top[:, rank]].tolist(), _texts(top_shares[:, rank])]
        columns.append([b"}"] * n_windows)
    columns.append([b"]}"] * n_windows)
    pieces: list[bytes] = [b""] * (n_windows * len(columns))
    for i, column in enumerate(columns):
        pieces[i :: len(columns)] = column
    pieces[0] = pieces[0][1:]  # no comma before the first window
    return orjson.Fragment(b"[" + b"".join(pieces) + b"]")
