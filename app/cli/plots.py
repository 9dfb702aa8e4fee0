"""Pictures of a detection: the series, the score against the threshold, the events shaded
(and the labelled spans, when the data has labels).

matplotlib comes with the `train` extra; it is imported here only, so serving never loads it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.detector import Detection, Detector
from models.scoring import runs
from models.spec import DetectorSpec
from models.training import TrainingCurves

if TYPE_CHECKING:  # matplotlib is imported when a picture is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox
from models.wording import plural

MAX_FEATURES_SHOWN = 6  # more lines than this on one axis are unreadable
MAX_EVENTS_NAMED = 8  # the strongest events get their top feature written beside them
EVENT_COLOUR = "tab:red"
LABEL_COLOUR = "tab:grey"
POINTS_PER_INCH = 72  # annotation offsets are in points, text boxes in pixels


def detection_png(
    detector: Detector,
    values: np.ndarray,
    detection: Detection,
    x: Sequence[object] | np.ndarray,
    title: str,
    labels: np.ndarray | None = None,
) -> bytes:
    """values  # (n_rows, n_features) raw; x: one position per row (times or row numbers);
    labels  # (n_rows,) 0/1, optional: their anomalous spans are shaded too"""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    x = np.asarray(x)
    shown = features_to_show(detection, len(detector.features))
    scaled = detector.scaler.transform(values)
    fig, (series_ax, score_ax) = plt.subplots(
        2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for j in shown:
        series_ax.plot(x, scaled[:, j], linewidth=0.8, label=detector.features[j])
    series_ax.set_ylabel("scaled value (z-score)")
    series_ax.legend(loc="upper left", fontsize="small", ncol=min(len(shown), 6))
    if len(shown) < len(detector.features):
        series_ax.set_title(
            f"{len(shown)} of {len(detector.features)} features: those carrying most of the error",
            fontsize="small",
        )

    ends = detection.window_end_rows
    score_ax.plot(x[ends], detection.scores, color="black", linewidth=0.8, label="score")
    score_ax.axhline(detection.threshold, color="tab:red", linestyle="--", label="threshold")
    score_ax.set_yscale("log")
    score_ax.set_ylabel("score (reconstruction MSE)")
    handles, _ = score_ax.get_legend_handles_labels()
    if labels is not None:  # two kinds of shading now: say which is which
        handles += [
            Patch(color=EVENT_COLOUR, alpha=0.15, label="detected event"),
            Patch(color=LABEL_COLOUR, alpha=0.3, label="labelled anomalous"),
        ]
        for start, end in runs(labels):
            _shade(x[start], x[end], (series_ax, score_ax), LABEL_COLOUR, alpha=0.3)
    score_ax.legend(handles=handles, loc="upper left", fontsize="small")

    for event in detection.events:
        start, end = x[ends[event.start]], x[ends[event.end]]
        _shade(start, end, (series_ax, score_ax), EVENT_COLOUR, alpha=0.15)
    strongest = sorted(detection.events, key=lambda e: e.peak_score)[-MAX_EVENTS_NAMED:]
    names = [
        score_ax.annotate(
            detector.features[event.top_feature],
            (x[ends[event.peak]], event.peak_score),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize="x-small",
            arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5},
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )
        for event in strongest
    ]
    flagged = int(detection.is_anomaly.sum())
    fig.suptitle(
        f"{title}: {plural(len(detection.scores), 'window')}, {flagged} flagged, "
        f"{plural(len(detection.events), 'event')}"
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    _spread(names, fig)  # after the layout: it moves the axes, and the labels with them
    return _png(fig)


def _shade(start: object, end: object, axes: Sequence[Axes], colour: str, alpha: float) -> None:
    for ax in axes:
        ax.axvspan(start, end, color=colour, alpha=alpha, linewidth=0)  # type: ignore[arg-type]


def _spread(names: list[Annotation], fig: Figure) -> None:
    """Move each event's name below its peak, one line lower at a time, until it covers no name
    placed before it (left to right): names of close events stay readable and inside the score
    axis (peaks are near its top); a thin line leads from each name to its peak."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    placed: list[Bbox] = []
    # Text's own box: the annotation's box holds the line to the peak, which grows as it moves
    for name in sorted(names, key=lambda n: Text.get_window_extent(n, renderer).x0):
        box = Text.get_window_extent(name, renderer)
        line = box.height * POINTS_PER_INCH / fig.dpi + 1
        while any(box.overlaps(other) for other in placed):  # ends: each step passes one name
            dx, dy = name.xyann
            name.xyann = (dx, min(dy, 0) - line)
            box = Text.get_window_extent(name, renderer)
        placed.append(box)


def training_report_png(name: str, spec: DetectorSpec, curves: TrainingCurves) -> bytes:
    """Loss curves per epoch (the best one marked) and the histogram of the normal validation
    errors with the threshold: what a person checks before trusting a model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = np.arange(1, len(curves.losses) + 1)
    loss_ax.plot(epochs, curves.losses, label="training loss")
    loss_ax.plot(epochs, curves.validation_losses, label="validation loss")
    best = spec.training.best_epoch
    loss_ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best}), kept")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("reconstruction MSE")
    loss_ax.legend(fontsize="small")
    loss_ax.set_title("losses")

    errors = curves.normal_errors[curves.normal_errors > 0]
    threshold = spec.threshold
    if len(errors):
        low = min(errors.min(), threshold.value) / 1.2
        high = max(errors.max(), threshold.value) * 1.2
        error_ax.hist(errors, bins=np.geomspace(low, high, 60), color="tab:blue", alpha=0.8)
        error_ax.set_xscale("log")
    how = f"{threshold.method}" + (f" {threshold.quantile}" if threshold.quantile else "")
    error_ax.axvline(
        threshold.value,
        color="tab:red",
        linestyle="--",
        label=f"threshold {threshold.value:.4g} ({how})",
    )
    error_ax.set_xlabel("score of a normal validation window")
    error_ax.set_ylabel("windows")
    error_ax.legend(fontsize="small")
    error_ax.set_title(f"{len(curves.normal_errors)} normal validation windows")
    fig.suptitle(f"{name}: training report")
    fig.tight_layout()
    return _png(fig)


def features_to_show(detection: Detection, n_features: int) -> list[int]:
    """All features when few; else those with the largest share of the error where it is high."""
    if n_features <= MAX_FEATURES_SHOWN:
        return list(range(n_features))
    weights = detection.contributions * detection.scores[:, None]
    flagged = detection.is_anomaly
    if flagged.any():
        weights = weights[flagged]
    top = np.argsort(-weights.sum(axis=0), kind="stable")[:MAX_FEATURES_SHOWN]
    return sorted(int(j) for j in top)


def _png(fig: object) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buffer.getvalue()
