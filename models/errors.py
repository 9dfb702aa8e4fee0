"""Domain errors: each has a stable snake_case code and the HTTP status it maps to."""

from __future__ import annotations


class RarewatchError(Exception):
    """Base of every error a user sees (CLI: one line and exit 2; HTTP: problem+json)."""

    code = "rarewatch_error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(RarewatchError):
    """The data handed to rarewatch cannot be used as it is."""

    code = "invalid_input"
    status = 422
    title = "Invalid input"


class NotEnoughRows(InvalidInput):
    code = "not_enough_rows"
    title = "Not enough rows"


class FeatureMismatch(InvalidInput):
    code = "feature_mismatch"
    title = "Features do not match the model"


class NonFiniteValues(InvalidInput):
    code = "non_finite_values"
    title = "Non-finite values"


class InvalidLabels(InvalidInput):
    code = "invalid_labels"
    title = "Invalid labels"


class ModelNotFound(RarewatchError):
    code = "model_not_found"
    status = 404
    title = "Model not found"


class ArtifactError(RarewatchError):
    """A stored model is missing files, was tampered with, or does not describe a valid model."""

    code = "artifact_invalid"
    status = 500
    title = "Model artifact is invalid"
