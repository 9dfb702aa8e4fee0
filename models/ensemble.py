"""Several LSTM autoencoders side by side in one network (NetworkConfig.members): each member's
per-feature squared errors, divided by its median score on normal validation windows, averaged
into the squares every score option works on, so members that reconstruct at different scales
count alike.

The network's output holds the members' reconstructions one after another along the feature
axis: (n_windows, lookback, members x n_features), member j's features at j x n_features.
"""

from __future__ import annotations

import numpy as np

from models.scoring import ScoreOn, scored_steps, squared_errors

# A member that reconstructs every normal validation window perfectly would divide by zero.
MIN_MEDIAN = 1e-12


def member_squares(
    windows: np.ndarray, reconstructed: np.ndarray, score_on: ScoreOn = ScoreOn.WINDOW
) -> np.ndarray:
    """Each member's squared error per feature, summed over the scored timesteps.

    windows  # (n_windows, lookback, n_features)
    reconstructed  # (n_windows, lookback, members * n_features) -> (n_windows, members, n_features)
    """
    n_windows, lookback, n_features = windows.shape
    members = reconstructed.shape[2] // n_features
    by_member = reconstructed.reshape(n_windows, lookback, members, n_features)
    if score_on is ScoreOn.LAST_STEP:
        windows, by_member = windows[:, -1:], by_member[:, -1:]
    diff = by_member - windows[:, :, None, :]
    squares = np.einsum("nlkf,nlkf->nkf", diff, diff)
    if not np.isfinite(squares).all():  # float32 squares overflow past ~1.8e19: redo wide
        diff = np.subtract(by_member, windows[:, :, None, :], dtype=np.float64)
        squares = np.einsum("nlkf,nlkf->nkf", diff, diff)
    return squares.astype(np.float64, copy=False)


def member_medians(squares: np.ndarray, lookback: int, score_on: ScoreOn) -> np.ndarray:
    """Each member's median plain score (its squares summed over the features, over scored
    steps x features) on normal windows.

    squares  # (n_windows, members, n_features) from member_squares -> (members,)
    """
    n_values = scored_steps(lookback, score_on) * squares.shape[2]
    medians = np.median(squares.sum(axis=2) / n_values, axis=0)
    return np.maximum(medians, MIN_MEDIAN)


def network_squares(
    windows: np.ndarray,
    reconstructed: np.ndarray,
    score_on: ScoreOn,
    medians: np.ndarray | None,
) -> np.ndarray:
    """Each window's per-feature squared errors from the network: its one autoencoder's, or
    (medians given) the members' each divided by its median, averaged.

    windows  # (n_windows, lookback, n_features) -> (n_windows, n_features)
    medians  # (members,) from member_medians, or None for a network of one autoencoder
    """
    if medians is None:
        return squared_errors(windows, reconstructed, score_on)
    squares = member_squares(windows, reconstructed, score_on)
    return (squares / medians[:, None]).mean(axis=1)
