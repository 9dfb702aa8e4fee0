"""The results array written from arrays is byte for byte what orjson writes from dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.results_json import Marks, results_json
from models.detector import Filling
from models.input_contract import FillMethod, FillPolicy, FillReport

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
names = st.text(max_size=6)  # quotes, commas, brackets and any unicode included


def as_dicts(**answer: Any) -> list[dict[str, Any]]:
    """The plain way: one dict per window and per top feature."""
    return [
        {
            "index": row,
            "timestamp": time,
            "score": score,
            "is_anomaly": flag,
            "severity": severity,
            "filled_share": filled,
            "reason": None if scored else REASON,
            "out_of_range": bool(far.any()),
            "out_of_range_features": [answer["features"][f] for f in np.flatnonzero(far)],
            "top_features": [
                {"feature": answer["features"][f], "share": s}
                for f, s in zip(top, shares, strict=True)
            ]
            if scored
            else [],
        }
        for row, time, score, flag, severity, top, shares, filled, scored, far in zip(
            answer["rows"].tolist(),
            answer["timestamps"],
            answer["scores"].tolist(),
            answer["is_anomaly"].tolist(),
            answer["severity"].tolist(),
            answer["top_picks"][0].tolist(),
            answer["top_picks"][1].tolist(),
            *_filling(answer),
            _far(answer),
            strict=True,
        )
    ]


POLICY = FillPolicy(FillMethod.LINEAR, 2)
REASON = POLICY.unscored_reason()


def _filling(answer: dict[str, Any]) -> tuple[list[float], list[bool]]:
    filling, n = answer["filling"], len(answer["rows"])
    if filling is None:
        return [0.0] * n, [True] * n
    return filling.filled_share.tolist(), filling.scored.tolist()


def _far(answer: dict[str, Any]) -> np.ndarray:
    far, n = answer["out_of_range"], len(answer["rows"])
    return np.zeros((n, len(answer["features"])), bool) if far is None else far


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    n_features = draw(st.integers(1, 5))
    n, k = draw(st.integers(0, 12)), draw(st.integers(0, n_features))
    arrays = st.lists(finite, min_size=n, max_size=n).map(np.array)
    return {
        "rows": np.array(draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)), np.int64),
        "timestamps": draw(st.lists(st.none() | names, min_size=n, max_size=n)),
        "scores": draw(arrays).astype(np.float64),
        "is_anomaly": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool),
        "severity": draw(arrays).astype(np.float64),
        "top_picks": (
            np.array(
                draw(
                    st.lists(
                        st.lists(st.integers(0, n_features - 1), min_size=k, max_size=k),
                        min_size=n,
                        max_size=n,
                    )
                ),
                dtype=np.intp,
            ).reshape(n, k),
            np.array(
                draw(st.lists(st.lists(finite, min_size=k, max_size=k), min_size=n, max_size=n)),
                dtype=np.float64,
            ).reshape(n, k),
        ),
        "features": draw(st.lists(names, min_size=n_features, max_size=n_features)),
        "filling": draw(st.none() | fillings(n)),
        "out_of_range": draw(
            st.none()
            | st.lists(
                st.lists(st.booleans(), min_size=n_features, max_size=n_features),
                min_size=n,
                max_size=n,
            ).map(lambda far: np.array(far, dtype=bool).reshape(n, n_features))
        ),
    }


def fillings(n: int) -> st.SearchStrategy[Filling]:
    """Some windows filled in part, some not scored (what the detector hands the writer)."""
    nothing = np.zeros((0, 1), bool)
    return st.tuples(
        st.lists(st.floats(0, 1), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
    ).map(
        lambda drawn: Filling(
            POLICY,
            FillReport(nothing, nothing),
            np.array(drawn[0], dtype=np.float64),
            np.array(drawn[1], dtype=bool),
        )
    )


@settings(max_examples=300, deadline=None)
@given(answers())
def test_the_results_are_orjsons_own_bytes(answer: dict[str, Any]) -> None:
    marks = Marks(answer["filling"], answer["out_of_range"])
    arrays = {k: v for k, v in answer.items() if k not in {"filling", "out_of_range"}}
    written = orjson.dumps({"results": results_json(**arrays, marks=marks)})
    assert written == orjson.dumps({"results": as_dicts(**answer)})
