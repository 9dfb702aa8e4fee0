"""The linear reconstruction member: a PCA of the normal training windows, averaged with the
network at the level of each window's per-feature squared errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import ensemble
from models.scoring import ScoreOn, scored_steps

# The share of the normal training windows' variance the kept components explain: fixed before
# any measurement, the usual choice of PCA reconstruction baselines.
VARIANCE_KEPT = 0.9


@dataclass(frozen=True, slots=True)
class PcaBasis:
    """The mean and the leading principal components of flattened windows (lookback x
    n_features values each, row after row)."""

    mean: np.ndarray  # (lookback * n_features,) float64
    components: np.ndarray  # (n_components, lookback * n_features) float64, orthonormal rows

    def squares(self, windows: np.ndarray, score_on: ScoreOn = ScoreOn.WINDOW) -> np.ndarray:
        """Each window's squared error per feature under the PCA reconstruction
        mean + ((w - mean) @ C.T) @ C, summed over the scored timesteps, in float64.

        windows  # (n_windows, lookback, n_features) -> (n_windows, n_features)
        """
        n_windows, lookback, n_features = windows.shape
        # the float32 windows the network sees, whatever the caller's precision
        flat32 = np.asarray(windows, np.float32).reshape(n_windows, lookback * n_features)
        flat = flat32.astype(np.float64)
        coordinates = (flat - self.mean) @ self.components.T  # (n_windows, n_components)
        # only the scored steps are reconstructed: the last lookback x n_features values or all
        scored = slice((lookback - scored_steps(lookback, score_on)) * n_features, None)
        reconstructed = coordinates @ self.components[:, scored] + self.mean[scored]
        diff = reconstructed - flat[:, scored]
        return (diff * diff).reshape(n_windows, -1, n_features).sum(axis=1)


def fit_pca(train_windows: np.ndarray) -> PcaBasis:
    """The fewest leading components that explain VARIANCE_KEPT of the windows' variance (at
    least one), from the SVD of their scatter matrix (its size is the window's, whatever the
    number of windows).

    train_windows  # (n_windows, lookback, n_features) scaled (and transformed), all normal
    """
    n_windows = train_windows.shape[0]
    flat = train_windows.reshape(n_windows, -1).astype(np.float64)
    mean = flat.mean(axis=0)
    centred = flat - mean
    _, variances, directions = np.linalg.svd(centred.T @ centred, hermitian=True)
    total = float(variances.sum())
    kept = 1
    if total > 0:
        explained = np.cumsum(variances) / total
        kept = int(np.searchsorted(explained, VARIANCE_KEPT)) + 1
    return PcaBasis(mean, np.ascontiguousarray(directions[: min(kept, len(variances))]))


@dataclass(frozen=True, slots=True)
class PcaMember:
    """The basis and each member's median plain score on normal validation windows, by which
    its squares are divided before the two are averaged."""

    basis: PcaBasis
    network_median: float
    pca_median: float

    def combined(
        self, network_squares: np.ndarray, windows: np.ndarray, score_on: ScoreOn
    ) -> np.ndarray:
        """0.5 * (network squares / network median + PCA squares / PCA median): each member's
        error in multiples of a typical normal window's.

        network_squares  # (n_windows, n_features) from ensemble.network_squares
        windows  # (n_windows, lookback, n_features) as the network saw them
        """
        pca_squares = self.basis.squares(windows, score_on)
        return 0.5 * (network_squares / self.network_median + pca_squares / self.pca_median)


def member_of(
    basis: PcaBasis,
    network_squares: np.ndarray,
    windows: np.ndarray,
    score_on: ScoreOn,
) -> PcaMember:
    """The member whose medians are those of both members' plain scores (today's score: the
    squares summed over the features, over scored steps x features) on these windows.

    network_squares  # (n_windows, n_features) of normal validation `windows`
    """
    n_values = scored_steps(windows.shape[1], score_on) * windows.shape[2]
    pca_squares = basis.squares(windows, score_on)
    return PcaMember(
        basis,
        ensemble.median_score(network_squares, n_values),
        ensemble.median_score(pca_squares, n_values),
    )


def scored_squares(
    windows: np.ndarray,
    reconstructed: np.ndarray,
    score_on: ScoreOn,
    member: PcaMember | None,
    medians: np.ndarray | None = None,
) -> np.ndarray:
    """Each window's per-feature squared errors that the score is made of: the network's
    (models.ensemble.network_squares: its members' averaged where `medians` are given), or with
    a PCA member, those combined with the PCA's (PcaMember.combined).

    windows  # (n_windows, lookback, n_features) -> (n_windows, n_features)
    reconstructed  # (n_windows, lookback, members * n_features)
    """
    squares = ensemble.network_squares(windows, reconstructed, score_on, medians)
    if member is None:
        return squares
    return member.combined(squares, windows, score_on)
