"""Domain errors: each has a stable snake_case code and a detail, and knows nothing of HTTP."""

from __future__ import annotations


class RarewatchError(Exception):
    """Base of every error a user sees (CLI: one line and exit 2; HTTP: problem+json)."""

    code = "rarewatch_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(RarewatchError):
    """The data handed to rarewatch cannot be used as it is."""

    code = "invalid_input"


class NotEnoughRows(InvalidInput):
    code = "not_enough_rows"


class FeatureMismatch(InvalidInput):
    code = "feature_mismatch"


class NonFiniteValues(InvalidInput):
    code = "non_finite_values"


class InvalidTimestamps(RarewatchError):
    """Timestamps that are not ISO 8601 times, or that do not strictly increase."""

    code = "invalid_timestamps"


class InvalidLabels(InvalidInput):
    code = "invalid_labels"


class ModelNotFound(RarewatchError):
    code = "model_not_found"


class ArtifactError(RarewatchError):
    """A stored model is missing files, was tampered with, or does not describe a valid model."""

    code = "artifact_invalid"


class ModelFault(Exception):
    """A model produced what it never should (a non-finite score from finite inputs): a bug,
    never the caller's fault, so not a RarewatchError (the CLI shows its traceback)."""

    code = "model_fault"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
