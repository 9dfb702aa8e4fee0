"""The README's marked output blocks, rendered from the captured docs/readme-examples.json.

A block sits between `<!-- readme-example: NAME -->` and `<!-- /readme-example -->`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scripts.docs.captures import REPO

README_FILE = REPO / "README.md"
OUTPUTS_FILE = REPO / "docs" / "readme-examples.json"

# the block between the two markers: group 1 is NAME, group 2 what the block holds now
MARKED = re.compile(
    r"(?<=<!-- readme-example: )([\w-]+)( -->\n)(.*?)(?=<!-- /readme-example -->)", re.DOTALL
)

Outputs = dict[str, Any]  # NAME -> {"steps": [{"command", "output"}]} or {"skipped": why, ...}


def console_block(steps: list[dict[str, str]]) -> str:
    lines = [f"$ {step['command']}\n{step['output']}".rstrip("\n") for step in steps]
    return "```console\n" + "\n".join(lines) + "\n```\n"


def render_readme(readme: str, outputs: Outputs) -> str:
    """The README with every marked block that has captured outputs rewritten from them; a
    block whose capture was skipped stays as it is."""

    def rewrite(match: re.Match[str]) -> str:
        name, rest, now = match.groups()
        block = outputs[name]
        return name + rest + (now if "skipped" in block else console_block(block["steps"]))

    return MARKED.sub(rewrite, readme)


def marked_names(readme: str) -> list[str]:
    return [match.group(1) for match in MARKED.finditer(readme)]


def read_outputs() -> Outputs:
    outputs: Outputs = json.loads(OUTPUTS_FILE.read_text(encoding="utf-8"))
    return outputs


def write_outputs(outputs: Outputs) -> None:
    OUTPUTS_FILE.write_text(json.dumps(outputs, indent=1, ensure_ascii=False) + "\n")


def render() -> None:
    README_FILE.write_text(render_readme(README_FILE.read_text(), read_outputs()))


if __name__ == "__main__":
    render()
