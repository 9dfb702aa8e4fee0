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
from dataclasses import dataclass

import numpy as np
import orjson

from models.detector import Filling


def _texts(values: np.ndarray) -> list[bytes]:
    """Each element of a 1-D numeric or bool array as orjson writes it."""
    if len(values) == 0:
        return []
    contiguous = np.ascontiguousarray(values)  # orjson writes C-contiguous arrays only
    return orjson.dumps(contiguous, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


@functools.lru_cache(maxsize=64)
def _feature_prefixes(features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The text before each top feature's share: for a window's first top feature
    `,"top_features":[{"feature":NAME,"share":`, for the others `},{"feature":NAME,"share":`
    (closing the feature before); made once per model."""
    names = [orjson.dumps(name) for name in features]
    first = [b',"top_features":[{"feature":' + name + b',"share":' for name in names]
    rest = [b'},{"feature":' + name + b',"share":' for name in names]
    return np.array(first, dtype=object), np.array(rest, dtype=object)


# the fixed text around a window's is_anomaly value, for false and for true
FLAG_TEXTS = np.array(
    [b',"is_anomaly":false,"severity":', b',"is_anomaly":true,"severity":'], dtype=object
)
NO_TIMESTAMP = b',"timestamp":null,"score":'
FILLED_SHARE = b',"filled_share":'
NOTHING_FILLED = FILLED_SHARE + b'0.0,"reason":null'
IN_RANGE = b',"out_of_range":false,"out_of_range_features":[]'
OUT_OF_RANGE = b',"out_of_range":true,"out_of_range_features":'


@dataclass(frozen=True, slots=True)
class Marks:
    """What the results say besides their scores."""

    # None when nothing was missing; else each window's filled share, and whether it was
    # scored: those not scored get its policy's reason and no top features (their score and
    # severity are NaN, which orjson writes as null)
    filling: Filling | None = None
    # (n_windows, n_features) bool: the window holds a value of the feature far outside its
    # training range (QualityVerdict.window_far); None: no window does
    out_of_range: np.ndarray | None = None


def results_json(
    rows: np.ndarray,
    timestamps: list[str | None],
    scores: np.ndarray,
    is_anomaly: np.ndarray,
    severity: np.ndarray,
    top_picks: tuple[np.ndarray, np.ndarray],
    features: list[str],
    marks: Marks | None = None,
) -> orjson.Fragment:
    """The JSON array of results, one object per window, in the schema's key order.

    rows, scores, is_anomaly, severity  # (n_windows,)
    timestamps  # (n_windows,) the time of each window's row, or None
    top_picks  # (n_windows, k) twice: each window's top features (indices) and their shares
    marks  # each window's fill and range flags; None: nothing filled, nothing out of range

    A window's text is 8 + 2k pieces: every fixed text between two values is one piece, and
    it is joined to a value that can only take a few forms (a flag, a feature's name).
    """
    filling, out_of_range = (None, None) if marks is None else (marks.filling, marks.out_of_range)
    top, top_shares = top_picks
    n_windows, k = top.shape
    if n_windows == 0:
        return orjson.Fragment(b"[]")
    first, rest = _feature_prefixes(tuple(features))
    end = b"}]}" if k else b',"top_features":[]}'  # a window's last top feature, then itself
    columns: list[list[bytes]] = [
        [end + b',{"index":'] * n_windows,  # the window before ends, this one starts
        _texts(rows),
        [
            NO_TIMESTAMP if t is None else b',"timestamp":' + orjson.dumps(t) + b',"score":'
            for t in timestamps
        ],
        _texts(scores),
        FLAG_TEXTS[np.asarray(is_anomaly, dtype=np.intp)].tolist(),
        _texts(severity),
        [NOTHING_FILLED] * n_windows
        if filling is None
        else [FILLED_SHARE + share + b',"reason":null' for share in _texts(filling.filled_share)],
        _range_texts(out_of_range, features, n_windows),
    ]
    for rank in range(k):
        names = first if rank == 0 else rest
        columns += [names[top[:, rank]].tolist(), _texts(top_shares[:, rank])]
    last_end = end
    if filling is not None:
        unscored = np.flatnonzero(~filling.scored).tolist()
        because = b',"reason":' + orjson.dumps(filling.policy.unscored_reason())
        for i in unscored:
            columns[6][i] = columns[6][i].removesuffix(b',"reason":null') + because
            if not k:
                continue
            columns[8][i] = b',"top_features":['
            for column in columns[9:]:
                column[i] = b""
            if i + 1 < n_windows:
                columns[0][i + 1] = b']},{"index":'
            else:
                last_end = b"]}"
    pieces: list[bytes] = [b""] * (n_windows * len(columns))
    for i, column in enumerate(columns):
        pieces[i :: len(columns)] = column
    pieces[0] = b'{"index":'  # no window before the first
    return orjson.Fragment(b"[" + b"".join(pieces) + last_end + b"]")


def _range_texts(out_of_range: np.ndarray | None, features: list[str], n: int) -> list[bytes]:
    """Each window's `out_of_range` and `out_of_range_features`; only the flagged windows (a
    few, or none) are written one by one."""
    texts = [IN_RANGE] * n
    if out_of_range is None:
        return texts
    for i in np.flatnonzero(out_of_range.any(axis=1)).tolist():
        named = [features[j] for j in np.flatnonzero(out_of_range[i]).tolist()]
        texts[i] = OUT_OF_RANGE + orjson.dumps(named)
    return texts
