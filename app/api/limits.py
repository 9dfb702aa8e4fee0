"""Per-request limits on a parsed body's arrays (rows, features, windows), checked before the
schema validates it: an oversize request costs a few len() calls, not a validation pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.api.numeric_body import NumericRows
from app.api.problems import LimitExceeded
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    rows: int
    features: int
    windows: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_rows, settings.max_features, settings.max_windows)

    def check(self, body: Any) -> None:
        """Refuse a body over a limit; leave anything of the wrong type to the schema."""
        if not isinstance(body, dict):
            return
        values, series, windows = body.get("values"), body.get("series"), body.get("windows")
        for name in ("values", "timestamps"):
            self._at_most(body.get(name), self.rows, f"`{name}` has {{n}} rows")
        self._at_most(body.get("columns"), self.features, "`columns` names {n} features")
        if isinstance(values, list):
            self._rows(values, "a row of `values`")
        if isinstance(values, NumericRows):  # parsed by the fast path: rectangular
            self._at_most(values.array, self.rows, "`values` has {n} rows")
            self._at_most(values.array[0], self.features, "a row of `values` has {n} values")
        if isinstance(series, dict):
            self._at_most(series, self.features, "`series` has {n} features")
            for column in series.values():
                self._at_most(column, self.rows, "a feature of `series` has {n} rows")
        if isinstance(windows, list):
            self._at_most(windows, self.windows, "`windows` holds {n} windows")
            for window in windows:
                self._at_most(window, self.rows, "a window has {n} rows")
                if isinstance(window, list):
                    self._rows(window, "a row of a window")

    def _rows(self, rows: list[Any], what: str) -> None:
        for row in rows:
            self._at_most(row, self.features, what + " has {n} values")

    @staticmethod
    def _at_most(items: Any, limit: int, what: str) -> None:
        if isinstance(items, list | dict | np.ndarray) and len(items) > limit:
            raise LimitExceeded(
                f"{what.format(n=len(items))}; the limit is {limit} (see the server settings)"
            )
