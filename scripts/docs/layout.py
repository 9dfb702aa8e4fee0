"""JSON laid out for reading in Markdown, as docs/api.md and the README show it."""

from __future__ import annotations

import json
from typing import Any


def block(value: Any) -> str:
    return f"```json\n{json_text(value)}\n```"


def json_text(value: Any, indent: str = "", step: str = "  ") -> str:
    """JSON laid out for reading: one member or item a line, except that a list of numbers (a
    row of values), and a short list or object of plain values, stay on one line; `step` is one
    level's indent."""
    if on_one_line(value):
        return json.dumps(value)
    inner = indent + step
    if isinstance(value, dict):
        members = (
            f"{inner}{json.dumps(key)}: {json_text(v, inner, step)}" for key, v in value.items()
        )
        return "{\n" + ",\n".join(members) + f"\n{indent}}}"
    items = (inner + json_text(item, inner, step) for item in value)
    return "[\n" + ",\n".join(items) + f"\n{indent}]"


def on_one_line(value: Any) -> bool:
    if not isinstance(value, dict | list) or not value:
        return True
    items = value.values() if isinstance(value, dict) else value
    if any(isinstance(item, dict | list) for item in items):
        return False
    numbers = isinstance(value, list) and all(isinstance(item, int | float) for item in value)
    return numbers or len(json.dumps(value)) <= 72
