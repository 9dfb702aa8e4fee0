"""schemathesis against the app's own OpenAPI document, with every check, on a real server:
requests derived from the schema, valid and invalid, get only documented answers, never a 500.

schemathesis' pytest plugin (schema.parametrize) does not run under pytest 9 yet, so each
operation gets a plain hypothesis test over schemathesis' strategy for it."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation.modes import GenerationMode

from app.api.main import create_app
from app.settings import Settings
from tests.app.conftest import Server

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
MAX_EXAMPLES = 12  # per operation and mode: the whole run stays well under a minute


def operations() -> list[tuple[str, GenerationMode]]:
    """Every operation with valid requests; those with a body or a query with invalid ones too
    (a path's name is any string: there is no invalid one to send)."""
    cases = []
    for path, methods in create_app(Settings()).openapi()["paths"].items():
        for method, operation in methods.items():
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            if query or "requestBody" in operation:
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@pytest.fixture(scope="module")
def openapi(server: Server) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


@pytest.mark.parametrize(("label", "mode"), operations(), ids=str)
def test_every_operation_answers_as_its_schema_says(
    openapi: schemathesis.schemas.BaseSchema, server: Server, label: str, mode: GenerationMode
) -> None:
    operation = openapi.find_operation_by_label(label)
    assert operation is not None

    @given(data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers_as_documented(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        case.call_and_validate(base_url=server.url, checks=ALL_CHECKS)

    answers_as_documented()
