"""How long flagged rows stay out of the refits (the config's flags_kept): until the next fit,
or while inside the fit window whichever version flagged them; the watch and the drift bench
keep them with the same two functions."""

from __future__ import annotations

import numpy as np
import pytest

from app.watch.config import FlagsKept, WatchedModel
from app.watch.refit import flags_after_fit, flags_to_fit

STAMPS = np.arange(10, 20, dtype=np.int64)  # the fit window's rows, epoch ns


def test_flags_older_than_the_window_go_and_the_rest_mark_the_windows_rows() -> None:
    kept, rows = flags_to_fit({3, 9, 10, 14, 25}, STAMPS)
    assert kept == {10, 14, 25}  # 25: after the window's end, flagged as it was queried
    assert rows.dtype == bool
    assert np.flatnonzero(rows).tolist() == [0, 4]


def test_no_flags_mark_no_rows() -> None:
    kept, rows = flags_to_fit(set(), STAMPS)
    assert kept == set()
    assert rows.shape == (10,)
    assert not rows.any()


def test_until_fit_forgets_the_flags_the_new_version_was_fitted_without() -> None:
    assert flags_after_fit({10, 14, 19, 25}, 19, FlagsKept.UNTIL_FIT) == {25}


def test_in_fit_window_keeps_every_flag_for_the_fits_after() -> None:
    """A long fault that the new version no longer flags stays out of the next fits too."""
    flagged = {10, 14, 19, 25}
    after = flags_after_fit(flagged, 19, FlagsKept.IN_FIT_WINDOW)
    assert after == flagged
    assert after is not flagged  # the watch's set is replaced, never shared
    # the next fit's window starts at 15: the older flags leave with it
    kept, rows = flags_to_fit(after, np.arange(15, 25, dtype=np.int64))
    assert kept == {19, 25}
    assert np.flatnonzero(rows).tolist() == [4]


def test_the_config_takes_flags_kept_and_defaults_to_until_fit() -> None:
    base = {"model": "m", "query": "x", "feature_label": "f", "step": 1, "infer_every": 1}
    assert WatchedModel.model_validate(base).flags_kept is FlagsKept.UNTIL_FIT
    chosen = WatchedModel.model_validate({**base, "flags_kept": "in_fit_window"})
    assert chosen.flags_kept is FlagsKept.IN_FIT_WINDOW
    with pytest.raises(ValueError, match="flags_kept"):
        WatchedModel.model_validate({**base, "flags_kept": "forever"})
