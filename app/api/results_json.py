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


def results_json(
    rows: np.ndarray,
    timestamps: list[str | None],
    scores: np.ndarray,
    is_anomaly: np.ndarray,
    severity: np.ndarray,
    top_picks: tuple[np.ndarray, np.ndarray],
    features: list[str],
    filling: Filling | None = None,
) -> orjson.Fragment:
    """The JSON array of results, one object per window, in the schema's key order.

    rows, scores, is_anomaly, severity  # (n_windows,)
    timestamps  # (n_windows,) the time of each window's row, or None
    top_picks  # (n_windows, k) twice: each window's top features (indices) and their shares
    filling  # None when nothing was missing; else each window's filled share, and whether it
    # was scored: those not scored get its policy's reason and no top features (their score and
    # severity are NaN, which orjson writes as null)

    A window's text is 7 + 2k pieces: every fixed text between two values is one piece, and
    it is joined to a value that can only take a few forms (a flag, a feature's name).
    """
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
            columns[7][i] = b',"top_features":['
            for column in columns[8:]:
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
