"""Per-feature standardization, fitted on normal training rows and stored as JSON numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from models.errors import InvalidInput, NonFiniteValues

# Below this spread a feature counts as constant: it is centred but not divided, so a
# constant training feature neither divides by zero nor blows tiny noise up to huge z-scores.
MIN_SCALE = 1e-8
# the interquartile range of a normal distribution in standard deviations: robust scales divided
# by it are comparable with standard ones (and scores keep their size)
NORMAL_IQR = 1.3489795


class Scaling(StrEnum):
    """How the centre and the spread of each feature are measured on normal training rows."""

    STANDARD = "standard"  # mean and standard deviation
    # median and interquartile range / NORMAL_IQR: a few outlying or drifting rows in the
    # training part move neither, so the usual rows keep their z-scores
    ROBUST = "robust"


@dataclass(frozen=True, slots=True)
class Scaler:
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(
        cls, rows: np.ndarray, scaling: Scaling = Scaling.STANDARD, relative_floor: float = 0.0
    ) -> Scaler:
        """rows  # (n_rows, n_features), normal training rows only.

        `mean` and `scale` hold the centre and the spread of `scaling`: with ROBUST, the median
        and the normalised interquartile range (the standard deviation where that range is 0,
        e.g. a feature that is almost always the same value). `relative_floor`: no scale below
        this share of the feature's |centre|, so a feature (nearly) constant in training counts
        its movements relative to its own level instead of in units of a tiny spread.
        """
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise InvalidInput("the scaler needs at least one row of training data")
        rows64 = rows.astype(np.float64, copy=False)
        std = rows64.std(axis=0)
        if scaling is Scaling.ROBUST:
            q25, centre, q75 = np.quantile(rows64, [0.25, 0.5, 0.75], axis=0)
            iqr = (q75 - q25) / NORMAL_IQR
            spread = np.where(iqr > MIN_SCALE, iqr, std)
        else:
            centre, spread = rows64.mean(axis=0), std
        spread = np.maximum(spread, relative_floor * np.abs(centre))
        scale = np.where(spread > MIN_SCALE, spread, 1.0)
        return cls(tuple(float(m) for m in centre), tuple(float(s) for s in scale))

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Scaler:
        mean, scale = data["mean"], data["scale"]
        if len(mean) != len(scale):
            raise InvalidInput("scaler mean and scale have different lengths")
        if not all(math.isfinite(m) for m in mean) or not all(
            math.isfinite(s) and s > 0 for s in scale
        ):
            raise InvalidInput("scaler values must be finite and every scale > 0")
        return cls(tuple(mean), tuple(scale))

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "scale": list(self.scale)}

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """rows  # (n_rows, n_features) -> float32 z-scores; refuses values overflowing float32."""
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = ((rows - np.asarray(self.mean)) / np.asarray(self.scale)).astype(np.float32)
        if not np.isfinite(scaled).all():
            bad_row, bad_col = np.argwhere(~np.isfinite(scaled))[0]
            raise NonFiniteValues(
                f"value at row {bad_row}, feature {bad_col} is not finite or overflows float32 "
                "after scaling"
            )
        return scaled
