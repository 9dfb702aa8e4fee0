"""Write docs/api.md from the captured examples in app/api/examples.json (no server needed).

.venv/bin/python -m scripts.docs.render
"""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.docs.captures import REPO, Captures, read
from scripts.docs.sections_operation import (
    doc_client,
    doc_errors,
    doc_keys,
    doc_limits,
    doc_reload,
    doc_results,
    doc_shutdown,
)
from scripts.docs.sections_routes import (
    doc_conventions,
    doc_detect,
    doc_health,
    doc_intro,
    doc_models,
    doc_running,
    settings_table_drift,
)
from scripts.docs.severity import severity_example

DOCS_FILE = REPO / "docs" / "api.md"


def render_docs(captures: Captures) -> str:
    sections = [
        doc_intro(),
        doc_running(),
        doc_conventions(),
        doc_health(captures),
        doc_models(captures),
        doc_detect(captures),
        doc_results(captures, severity_example(captures)),
        doc_reload(captures),
        doc_keys(captures),
        doc_limits(captures),
        doc_shutdown(),
        doc_errors(captures),
        doc_client(captures),
    ]
    return "\n".join(sections)


def render(path: Path = DOCS_FILE) -> None:
    path.write_text(render_docs(read()))
    for drift in settings_table_drift():
        print(f"render: {drift} (settings_table)", file=sys.stderr)
    print(f"render: wrote {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    render()
