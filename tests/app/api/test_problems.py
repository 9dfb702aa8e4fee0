"""One table maps every error's code to its HTTP status and title; the errors know nothing of
HTTP, and a model fault is a typed exception of its own, answered as a 500 with an error id."""

from __future__ import annotations

import numpy as np
import pytest

import app.api.problems
import models.onnx_export
from app.api.problems import ANSWERS, Answer, answer_of
from models.detector import Detector
from models.errors import InvalidInput, ModelFault, RarewatchError
from tests.app.faults import NaNEngine
from tests.conftest import TinyModel

# every code with the status and title it was answered with before the table: pinned
BEFORE_THE_TABLE = {
    "rarewatch_error": (400, "Bad request"),
    "invalid_input": (422, "Invalid input"),
    "not_enough_rows": (422, "Not enough rows"),
    "feature_mismatch": (422, "Features do not match the model"),
    "non_finite_values": (422, "Non-finite values"),
    "invalid_labels": (422, "Invalid labels"),
    "model_not_found": (404, "Model not found"),
    "artifact_invalid": (500, "Model artifact is invalid"),
    "onnx_export_mismatch": (500, "ONNX export does not match Keras"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "body_too_large": (413, "Request body too large"),
    "invalid_json": (400, "Invalid JSON"),
    "invalid_timestamps": (422, "Invalid timestamps"),
    "not_ready": (503, "Not ready"),
    "model_unavailable": (503, "Model unavailable"),
    "limit_exceeded": (413, "Request over a limit"),
    "overloaded": (503, "Overloaded"),
    "request_timeout": (408, "Request timeout"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Forbidden"),
    "reload_failed": (409, "Reload failed"),
    "validation_error": (422, "Request does not match the schema"),
    "not_found": (404, "Not Found"),
    "method_not_allowed": (405, "Method Not Allowed"),
    "internal_error": (500, "Internal server error"),
    # added since
    "host_not_allowed": (400, "Host not allowed"),
}


def every_error() -> list[type[RarewatchError]]:
    assert app.api.problems
    assert models.onnx_export
    found, todo = [], [RarewatchError]
    while todo:
        error = todo.pop()
        found.append(error)
        todo.extend(error.__subclasses__())
    return found


def test_the_table_answers_every_code_as_it_was_answered_before() -> None:
    assert {code: (a.status, a.title) for code, a in ANSWERS.items()} == BEFORE_THE_TABLE


@pytest.mark.parametrize("error", every_error(), ids=lambda error: error.__name__)
def test_every_error_has_a_code_of_its_own_in_the_table_and_no_http_attributes(
    error: type[RarewatchError],
) -> None:
    assert error.code in ANSWERS
    assert answer_of(error) is ANSWERS[error.code]
    assert not hasattr(error, "status")
    assert not hasattr(error, "title")


def test_no_two_errors_share_a_code() -> None:
    codes = [error.code for error in every_error()]
    assert len(codes) == len(set(codes))


def test_an_error_without_a_code_of_its_own_answers_as_the_class_it_refines() -> None:
    class Refined(InvalidInput):
        pass

    assert answer_of(Refined) == Answer(422, "Invalid input")


def test_a_non_finite_reconstruction_is_a_model_fault_never_an_input_error(
    tiny_model: TinyModel,
) -> None:
    spec = tiny_model.store.open("tiny").spec
    broken = Detector("broken", 1, spec, NaNEngine(spec.lookback, spec.n_features))
    values = np.ones((spec.lookback + 2, spec.n_features), dtype=np.float32)
    for detect in (broken.detect, broken.detect_last):
        with pytest.raises(ModelFault, match="non-finite") as raised:
            detect(values)
        assert raised.value.code == "model_fault"
        assert not isinstance(raised.value, RarewatchError | ArithmeticError)
