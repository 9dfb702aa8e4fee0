"""docs/api.md and the OpenAPI examples come from one set of captured data, in step."""

from __future__ import annotations

from app.api import examples
from models.scoring import SEVERITY_FORMULA
from scripts.docs.captures import Captures, read
from scripts.docs.render import DOCS_FILE, render_docs


def test_docs_api_md_is_the_rendering_of_the_captured_examples() -> None:
    # fails when docs/api.md or app/api/examples.json was edited without the other:
    # `python -m scripts.docs.render` rewrites the page from the data
    assert DOCS_FILE.read_text() == render_docs(read())


def test_the_captured_data_survives_a_round_trip_and_feeds_the_openapi_examples() -> None:
    captures = read()
    assert Captures.from_json(captures.to_json()) == captures
    assert captures.served.detect == examples.DETECT_RESPONSE
    assert examples.DETECT_REQUESTS["rows"]["value"] == captures.sample.rows
    every_problem = {name for named in examples.PROBLEMS.values() for name in named}
    assert every_problem == set(captures.problems)


def test_the_severity_formula_on_the_page_is_the_one_models_scoring_states() -> None:
    page = DOCS_FILE.read_text()
    assert all(line in page for line in SEVERITY_FORMULA.splitlines())
