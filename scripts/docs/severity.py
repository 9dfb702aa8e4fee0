"""Severity worked out from the captured numbers, each checked against the documented formula.

The formula is computed here independently of models.scoring, so a change there is noticed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scripts.docs.captures import JSON, Captures


@dataclass(frozen=True)
class SeverityExample:
    threshold: float
    median: float  # validation_error_quantiles["0.5"]
    step: float
    result: JSON  # the first anomalous result of the /detect example

    @property
    def ratio(self) -> float:
        return float(self.result["score"]) / self.threshold

    @property
    def steps(self) -> float:
        return math.log(self.ratio) / math.log(self.step)


def severity_step(threshold: float, median: float) -> float:
    return threshold / median if 0 < median < threshold else 2.0


def severity_of(score: float, threshold: float, median: float) -> float:
    """The formula docs/api.md states, computed independently of models.scoring."""
    if score <= threshold:
        return 0.0
    steps = math.log(score / threshold) / math.log(severity_step(threshold, median))
    return 1.0 - math.exp(-steps)


def severity_example(captures: Captures) -> SeverityExample:
    """The demo model's numbers; fails if any captured severity disagrees with the formula."""
    threshold = float(captures.served.model["threshold"]["value"])
    median = float(captures.served.model["validation_error_quantiles"]["0.5"])
    for answer in (captures.served.detect, captures.served.detect_last, captures.served.windows):
        for result in answer["results"]:
            expected = severity_of(result["score"], threshold, median)
            if not math.isclose(result["severity"], expected, rel_tol=1e-9, abs_tol=1e-12):
                raise SystemExit(
                    f"severity {result['severity']} of score {result['score']} is not what the "
                    f"documented formula gives ({expected}): update the formula in this script"
                )
    flagged = [r for r in captures.served.detect["results"] if r["is_anomaly"]]
    if not flagged:
        raise SystemExit("the /detect example flags no window: choose other demo rows")
    return SeverityExample(threshold, median, severity_step(threshold, median), flagged[0])
