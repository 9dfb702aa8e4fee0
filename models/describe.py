"""Human-readable descriptions of stored models (the `rarewatch models` output)."""

from __future__ import annotations

from models.artifact import ModelStore
from models.errors import RarewatchError
from models.scaling import Scaling
from models.scoring import ErrorStandardisation
from models.spec import DetectorSpec, ThresholdSpec
from models.wording import plural


def summary_line(store: ModelStore, name: str, version: int) -> str:
    try:
        _, spec, _ = store.read(name, version)
    except RarewatchError as exc:
        return f"{name}  v{version}  UNUSABLE: {exc.detail}"
    t = spec.threshold
    return (
        f"{name}  v{version}  lookback {spec.lookback}  threshold {t.value:.4g} "
        f"({threshold_method(t)})  "
        f"{plural(spec.n_features, 'feature')}: {', '.join(spec.features)}"
    )


def describe(name: str, version: int, spec: DetectorSpec) -> str:
    t, training, net = spec.threshold, spec.training, spec.network
    fill = spec.fill_policy
    lines = [
        f"{name} version {version} (created {spec.created})",
        f"features ({spec.n_features}): {', '.join(spec.features)}",
        f"lookback {spec.lookback}; {net.architecture} {'-'.join(map(str, net.units))} "
        f"{net.activation}, dropout {net.dropout}",
        *scaling_line(spec),
        *score_options_line(spec),
        *ensemble_line(spec),
        *member_line(spec),
        f"threshold {t.value:.6g} ({threshold_method(t, detail=True)})",
        *alarm_rule_line(spec),
        f"missing values: fill {fill.text} up to {plural(fill.max_gap, 'row')}; in training "
        f"{plural(training.filled_cells, 'cell')} filled, "
        f"{plural(training.windows_left_out, 'window')} left out",
        "normal validation errors: "
        + "  ".join(f"q{q}={v:.4g}" for q, v in spec.validation_error_quantiles.items()),
        f"trained on {plural(training.train_windows, 'window')} ({plural(training.rows, 'row')}"
        + (f", {training.time_start} .. {training.time_end}" if training.time_start else "")
        + f"), best epoch {training.best_epoch} of {training.epochs_run}, "
        f"loss {training.train_loss:.4g}, validation loss {training.validation_loss:.4g}",
        "",
        f"{'layer':<16}{'type':<18}{'output shape':<22}{'params':>10}",
    ]
    for row in spec.layers:
        shape = "(" + ", ".join("None" if d is None else str(d) for d in row.output_shape) + ")"
        lines.append(f"{row.name:<16}{row.type:<18}{shape:<22}{row.params:>10,}")
    lines.append(f"{'total':<56}{sum(r.params for r in spec.layers):>10,}")
    return "\n".join(lines)


def threshold_method(threshold: ThresholdSpec, detail: bool = False) -> str:
    """How the threshold was chosen, e.g. `quantile, margin x1.5` (`quantile q=0.99, ...`)."""
    text = str(threshold.method)
    if detail and threshold.quantile is not None:
        text += f" q={threshold.quantile}"
    if threshold.margin != 1:
        text += f", margin x{threshold.margin:g}"
    return text


def scaling_line(spec: DetectorSpec) -> list[str]:
    """The line saying how features were scaled, unless plainly (standard, no floor)."""
    floor = spec.relative_scale_floor
    if (spec.scaler.method, floor) == (Scaling.STANDARD, 0):
        return []
    return [
        f"scaling: {spec.scaler.method}"
        + (f", each scale at least {floor:g} x its feature's training level" if floor else "")
    ]


def score_options_line(spec: DetectorSpec) -> list[str]:
    """The line naming the stored score options (error standardisation, smoothing), when
    either is set."""
    standardisation, smoothing = spec.error_standardisation, spec.smoothing
    if (standardisation, smoothing) == (ErrorStandardisation.NONE, 1):
        return []  # the plain score: the README's models block keeps its form
    return [
        f"score: error standardisation {standardisation}, smoothing {plural(smoothing, 'window')}"
    ]


def ensemble_line(spec: DetectorSpec) -> list[str]:
    """The line naming the network's members, when it has several (models/ensemble.py)."""
    medians = spec.member_medians
    if medians is None:
        return []
    return [
        f"members: {len(medians)} autoencoders side by side, each error divided by its median "
        f"on normal validation windows ({', '.join(f'{m:.4g}' for m in medians)}), averaged"
    ]


def member_line(spec: DetectorSpec) -> list[str]:
    """The line naming the PCA member beside the network, when the model has one."""
    member = spec.pca_member
    if member is None:
        return []
    return [
        f"PCA member: {plural(len(member.components), 'component')} of "
        f"{spec.lookback * spec.n_features}, averaged with the network, each error divided by "
        f"its median on normal validation windows (network {member.network_median:.4g}, "
        f"PCA {member.pca_median:.4g})"
    ]


def alarm_rule_line(spec: DetectorSpec) -> list[str]:
    """The line saying how the model decides beyond `score > threshold`, when it does (the
    score's own smoothing is on score_options_line)."""
    after, hold = spec.alarm_after, spec.alarm_hold
    if (after, hold) == (1, 0):
        return []  # every window over the threshold alarms on its own
    return [
        f"alarm: {plural(after, 'window')} in a row over the threshold, held "
        f"{plural(hold, 'window')} after (alarm_after {after}, alarm_hold {hold})"
    ]
