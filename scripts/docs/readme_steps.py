"""The README's example commands: how each kind runs, and the form of what it prints.

Kinds: rarewatch, a shell tool, cat, curl. The form of an output leaves out what depends on the
model (numbers), so that a quickly trained model can be checked against the captured outputs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from scripts.docs.layout import json_text

REQUEST_FILE = "examples/request.json"  # the body the README's /detect example sends, shipped too
SERVER = "localhost:8000"  # where the README's curl commands send their requests


def kind(command: str) -> str:
    """'rarewatch', 'cat', 'curl' or 'shell' (anything else, run by bash)."""
    first = command.split(" ", 1)[0]
    return first if first in {"rarewatch", "cat", "curl"} else "shell"


def rarewatch_argv(command: str) -> list[str]:
    """The arguments after `rarewatch`."""
    return shlex.split(command)[1:]


@dataclass(frozen=True)
class CurlRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    pretty: bool  # piped through `python3 -m json.tool`


def curl_request(command: str, folder: Path) -> CurlRequest:
    """What a README curl command sends; `-d @FILE` reads FILE in `folder`."""
    tokens = shlex.split(command)
    pipe = tokens.index("|") if "|" in tokens else len(tokens)
    pretty = "json.tool" in tokens[pipe:]
    method, path, headers, body = "GET", "", {}, None
    words = iter(tokens[1:pipe])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, value = next(words).split(":", 1)
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(words)
            body = (folder / data[1:]).read_bytes() if data.startswith("@") else data.encode()
        elif word.startswith(SERVER):
            path = word.removeprefix(SERVER)
        elif word != "-s":
            raise ValueError(f"a curl option the README examples do not use: {word}")
    return CurlRequest(method, path, headers, body, pretty)


def answer_text(text: str, pretty: bool) -> str:
    """The answer as curl prints it, or as json.tool does, with short lists and objects of plain
    values folded onto one line (the README says so)."""
    return json_text(json.loads(text), step="    ") if pretty else text


def request_json_text(rows: pd.DataFrame, features: list[str]) -> str:
    """request.json for these rows, laid out as the README shows it: three timestamps a line,
    one row of values a line."""
    timestamps = [json.dumps(t) for t in rows["timestamp"]]
    stamp_lines = [", ".join(timestamps[i : i + 3]) for i in range(0, len(timestamps), 3)]
    value_lines = [json.dumps(row) for row in rows[features].to_numpy().tolist()]
    return "\n".join(
        [
            "{",
            f'  "columns": {json.dumps(features)},',
            '  "timestamps": [' + (",\n" + " " * 17).join(stamp_lines) + "],",
            '  "values": [' + (",\n" + " " * 13).join(value_lines) + "]",
            "}",
        ]
    )


# numbers (1,234 / 0.05 / 1e-05 / nan), and True/False in CSV rows
_NUMBER = re.compile(r"-?(?:\d+(?:,\d{3})*(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf)", re.IGNORECASE)
_BOOLEAN = re.compile(r"\b(?:True|False)\b")


def line_form(line: str) -> str:
    """A printed line with every number as # and runs of spaces as one: what any model prints
    in the same place (the layer table's alignment follows the width of its numbers)."""
    return " ".join(_BOOLEAN.sub("?", _NUMBER.sub("#", line)).split())


def json_form(value: Any) -> Any:
    """The keys, their order and the value types of a JSON answer, numbers and strings left
    out; a list is the set of its items' forms (how many windows are flagged varies)."""
    if isinstance(value, dict):
        return [(key, json_form(item)) for key, item in value.items()]
    if isinstance(value, list):
        forms = {json.dumps(json_form(item)) for item in value}
        return sorted(forms)
    return type(value).__name__


# the six demo rows the /detect example sends: the two windows ending in the vibration fault
REQUEST_ROWS = slice(1292, 1298)


def write_request_file(folder: Path) -> None:
    from models.demo import DEMO_FEATURES, demo_frame

    rows = demo_frame().iloc[REQUEST_ROWS]
    (folder / REQUEST_FILE).parent.mkdir(parents=True, exist_ok=True)
    (folder / REQUEST_FILE).write_text(request_json_text(rows, DEMO_FEATURES) + "\n")


def run_step(
    command: str, folder: Path, rarewatch: Callable[[list[str]], str], http: httpx.Client | None
) -> str:
    """A README command's output, run in `folder`: `rarewatch` by the given runner, curl against
    `http` (a client of the server the README's localhost:8000 stands for)."""
    match kind(command):
        case "rarewatch":
            output = rarewatch(rarewatch_argv(command))
        case "cat":
            output = (folder / command.split(" ", 1)[1]).read_text()
        case "curl":
            if http is None:
                raise ValueError(f"no server for {command}")
            request = curl_request(command, folder)
            response = http.request(
                request.method, request.path, headers=request.headers, content=request.body
            )
            output = answer_text(response.text, request.pretty)
        case _:
            done = subprocess.run(
                ["bash", "-c", command], cwd=folder, capture_output=True, text=True, check=True
            )
            output = done.stdout
    return output.rstrip("\n")
