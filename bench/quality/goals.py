"""Issue 17's goals for the defaults, over seeds, from the stored runs of bench.quality.seeds.

Each goal is checked on the mean over the seeds (the issue's "three seeds") and shown as
mean (min - max); a reference detector (the z-score, always-alarm) is read from the same run
as the model it is compared with, so a goal compares like with like seed by seed. The goal on
suites nobody here sees cannot be measured here and is not a row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.quality.nab import Z_SCORE
from bench.quality.run_all import own_rows

ANOMALY_FREE = ", trained on anomaly-free.csv"
# (name in the table, protocol's JSON, suffix of the rarewatch row after the label)
PROTOCOLS = (
    ("sheet breaks chronological", "chronological", ""),
    ("SKAB leaderboard", "skab", ""),
    ("SKAB anomaly-free", "skab", ANOMALY_FREE),
    ("NAB", "nab", ""),
)
OWN_TO_ORACLE = 0.7
ALWAYS = "always-alarm"

Runs = dict[tuple[int, str], dict[str, Any]]


def _row(result: dict[str, Any], label: str, suffix: str = "") -> dict[str, Any]:
    row = own_rows(result, label).get(suffix)
    if row is None:
        raise SystemExit(f"no row {label + suffix!r} in a {result.get('protocol')} run")
    return row


def _reference(result: dict[str, Any], name: str, variant: bool = False) -> dict[str, Any]:
    """A reference detector's row (`name` or, for "always-alarm", the trivial one) of the run or
    of its anomaly-free variant."""
    rows = result.get("variant", {}).get("rows", []) if variant else result["rows"]
    for row in rows:
        if row["name"] == name or (row.get("kind") == "trivial" and row["name"].startswith(name)):
            return row
    raise SystemExit(f"a {result.get('protocol')} run has no {name!r} row")


class _Figure:
    """One figure over the seeds: its values, their mean and how it is shown."""

    def __init__(self, values: list[float], digits: int = 3, unit: str = "") -> None:
        self.values, self.digits, self.unit = values, digits, unit
        self.mean = statistics.fmean(values)

    def __str__(self) -> str:
        d, unit = self.digits, self.unit
        low, high = f"{min(self.values):.{d}f}", f"{max(self.values):.{d}f}"
        if low == high:  # one seed, or seeds that agree to the digits shown
            return f"{self.mean:.{d}f}{unit}"
        return f"{self.mean:.{d}f}{unit} ({low}-{high})"


def _figure(
    runs: Runs, seeds: list[int], protocol: str, pick: Callable[[dict[str, Any]], float], **shown
) -> _Figure:
    return _Figure([float(pick(runs[(seed, protocol)])) for seed in seeds], **shown)


def _status(ok: bool) -> str:
    return "**met**" if ok else "not met"


def goals_table(runs: Runs, seeds: list[int], label: str) -> str:
    """Markdown: issue 17's goals for the configuration whose `runs` these are."""

    def own(protocol: str, key: str, suffix: str = "", **shown) -> _Figure:
        return _figure(runs, seeds, protocol, lambda r: _row(r, label, suffix)[key], **shown)

    def reference(protocol: str, key: str, name: str = ALWAYS, variant: bool = False) -> _Figure:
        return _figure(runs, seeds, protocol, lambda r: _reference(r, name, variant)[key])

    lines = [
        "| goal | measured (mean over the seeds, min-max) | target | status |",
        "|---|---|---|---|",
    ]
    nab_f1, nab_pr = own("nab", "f1"), own("nab", "pr_auc")
    z_f1, z_pr = reference("nab", "f1", Z_SCORE), reference("nab", "pr_auc", Z_SCORE)
    always = reference("nab", "f1")
    ok = nab_f1.mean > max(z_f1.mean, always.mean) and nab_pr.mean > z_pr.mean
    lines.append(
        f"| NAB | F1 {nab_f1}, PR AUC {nab_pr} | above the z-score's (F1 {z_f1}, PR AUC {z_pr}), "
        f"F1 above always-alarm's ({always}) | {_status(ok)} |"
    )
    f1, far, mar = own("skab", "f1"), own("skab", "far", digits=1), own("skab", "mar", digits=1)
    ok = f1.mean >= 0.80 and far.mean <= 13.5 and mar.mean <= 28
    lines.append(
        f"| SKAB leaderboard | F1 {f1}, FAR {far} %, MAR {mar} % | F1 >= 0.80, FAR <= 13.5 %, "
        f"MAR <= 28 % (Conv-AE 0.78 / 13.55 / 28.02) | {_status(ok)} |"
    )
    free = own("skab", "f1", ANOMALY_FREE)
    free_always = reference("skab", "f1", variant=True)
    lines.append(
        f"| SKAB anomaly-free variant | F1 {free} (always-alarm {free_always}) | F1 >= 0.70 | "
        f"{_status(free.mean >= 0.70)} |"
    )
    roc, chrono_f1 = own("chronological", "roc_auc"), own("chronological", "f1")
    chrono_always = reference("chronological", "f1")
    ok = roc.mean >= 0.65 and chrono_f1.mean > chrono_always.mean
    lines.append(
        f"| sheet breaks chronological | ROC AUC {roc}, F1 {chrono_f1} | ROC AUC >= 0.65, F1 "
        f"above always-alarm's ({chrono_always}) | {_status(ok)} |"
    )
    shares = {
        name: own(protocol, "own_to_oracle", suffix, digits=2)
        for name, protocol, suffix in PROTOCOLS
    }
    shown = ", ".join(f"{name} {share}" for name, share in shares.items())
    ok = min(share.mean for share in shares.values()) >= OWN_TO_ORACLE
    lines.append(
        f"| own-threshold F1 / oracle F1, every protocol | {shown} | >= {OWN_TO_ORACLE} in each | "
        f"{_status(ok)} |"
    )
    return "\n".join(lines) + "\n"
