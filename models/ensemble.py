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
    """Each member's squared error per feature, summed over the scored timesteps
    (scoring.squared_errors on each member's part of the output).

    windows  # (n_windows, lookback, n_features)
    reconstructed  # (n_windows, lookback, members * n_features) -> (n_windows, members, n_features)
    """
    n_features = windows.shape[2]
    members = reconstructed.shape[2] // n_features
    parts = [reconstructed[:, :, j * n_features : (j + 1) * n_features] for j in range(members)]
    return np.stack([squared_errors(windows, part, score_on) for part in parts], axis=1)


def median_score(squares: np.ndarray, n_values: int) -> float:
    """The median plain score (squares summed over the features, over the n_values scored
    values of a window) of one member's squares on normal windows, kept above MIN_MEDIAN.

    squares  # (n_windows, n_features)
    """
    return max(float(np.median(squares.sum(axis=1) / n_values)), MIN_MEDIAN)


def member_medians(squares: np.ndarray, lookback: int, score_on: ScoreOn) -> np.ndarray:
    """Each member's median_score on normal windows.

    squares  # (n_windows, members, n_features) from member_squares -> (members,)
    """
    n_values = scored_steps(lookback, score_on) * squares.shape[2]
    return np.array([median_score(squares[:, j], n_values) for j in range(squares.shape[1])])


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
