"""Detection metrics in plain numpy: confusion matrix, precision/recall/F1, ROC AUC, PR AUC."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Confusion:
    tn: int
    fp: int
    fn: int
    tp: int

    @classmethod
    def of(cls, predicted: np.ndarray, labels: np.ndarray) -> Confusion:
        predicted, labels = predicted.astype(bool), labels.astype(bool)
        return cls(
            tn=int((~predicted & ~labels).sum()),
            fp=int((predicted & ~labels).sum()),
            fn=int((~predicted & labels).sum()),
            tp=int((predicted & labels).sum()),
        )

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def false_positive_rate(self) -> float:
        return _ratio(self.fp, self.fp + self.tn)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    n_scored: int
    n_positive: int
    threshold: float
    precision: float
    recall: float
    f1: float
    false_positive_rate: float
    roc_auc: float | None
    pr_auc: float | None
    confusion: dict[str, int]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Evaluation:
    """Metrics of `score > threshold` against 0/1 labels; AUCs are None when one class is absent."""
    confusion = Confusion.of(scores > threshold, labels)
    both_classes = 0 < int(labels.sum()) < len(labels)
    return Evaluation(
        n_scored=len(scores),
        n_positive=int(labels.sum()),
        threshold=threshold,
        precision=confusion.precision,
        recall=confusion.recall,
        f1=confusion.f1,
        false_positive_rate=confusion.false_positive_rate,
        roc_auc=roc_auc(scores, labels) if both_classes else None,
        pr_auc=average_precision(scores, labels) if both_classes else None,
        confusion=asdict(confusion),
    )


def ranking_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative true and false positives when alarming on `score >= t`, for each distinct t.

    Returns (thresholds, tps, fps), thresholds in decreasing order; ties share one point.
    """
    order = np.argsort(scores, kind="mergesort")[::-1]
    sorted_scores, sorted_labels = scores[order], labels[order].astype(np.int64)
    # the last index of each run of equal scores closes one point of the curve
    distinct = np.flatnonzero(np.diff(sorted_scores)) if len(scores) > 1 else np.array([], int)
    ends = np.r_[distinct, len(scores) - 1]
    tps = np.cumsum(sorted_labels)[ends]
    fps = (ends + 1) - tps
    return sorted_scores[ends], tps, fps


def f1_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 of alarming on `score >= t` for each distinct score t, t in decreasing order.

    Returns (thresholds, f1); needs at least one score.
    """
    thresholds, tps, fps = ranking_curve(scores, labels)
    return thresholds, _f1(tps, fps, int(np.sum(labels)))


def _f1(tps: np.ndarray, fps: np.ndarray, n_positive: int) -> np.ndarray:
    """F1 of each point of a ranking curve: 2 TP / (2 TP + FP + FN) = 2 TP / (TP + FP + P)."""
    return 2 * tps / np.maximum(tps + fps + n_positive, 1)


def best_f1(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The highest F1 any threshold on `scores` gives against `labels`: an oracle (the labels
    choose the threshold), an upper bound to set a detector's own F1 against, never a result.
    None when there are no scores or no positive label."""
    if len(scores) == 0 or int(np.sum(labels)) == 0:
        return None
    return float(np.max(f1_curve(np.asarray(scores, np.float64), np.asarray(labels))[1]))


def best_f1_within_far(
    scores: np.ndarray, labels: np.ndarray, max_far: float
) -> dict[str, float] | None:
    """The oracle F1 under a false-alarm bound: the highest F1 any threshold on `scores` gives
    while its false-alarm rate (FAR, % of normal labels alarmed) stays at or under `max_far`,
    with that threshold's FAR and MAR (% of anomalous labels missed). Like best_f1 the labels
    choose the threshold: an upper bound on what a label-free rule on these scores can reach
    under the bound, never a result. None when no threshold keeps FAR within the bound, or there
    is no positive or no negative label."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    n_positive = int(np.sum(labels))
    if len(scores) == 0 or n_positive in (0, len(labels)):
        return None
    _, tps, fps = ranking_curve(scores, labels)
    far = 100.0 * fps / (len(labels) - n_positive)
    within = np.flatnonzero(far <= max_far)
    if len(within) == 0:
        return None
    f1 = _f1(tps[within], fps[within], n_positive)
    best = within[int(np.argmax(f1))]
    return {
        "max_far": float(max_far),
        "f1": float(np.max(f1)),
        "far": float(far[best]),
        "mar": 100.0 * float(n_positive - tps[best]) / n_positive,
    }


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids, so ties count half)."""
    _, tps, fps = ranking_curve(scores, labels)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """PR AUC as average precision: sum over thresholds of (recall step) x precision."""
    _, tps, fps = ranking_curve(scores, labels)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
