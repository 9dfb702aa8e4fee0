"""The captured API examples as data: app/api/examples.json, written by capture, read by render."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_FILE = REPO / "app" / "api" / "examples.json"  # package data: the routes read it


@dataclass(frozen=True)
class RefusedRequest:
    """What a request that must be refused is, and the answer it must get."""

    name: str  # the example's name in the OpenAPI document
    status: int
    code: str
    summary: str  # what is wrong with the request
    method: str
    path: str


@dataclass(frozen=True)
class Refusal(RefusedRequest):
    """A refused request, as docs/api.md describes it, and the server's answer."""

    headers: dict[str, str]  # sent besides the content type
    header: str  # "Name: value" of the answer's header that docs/api.md shows, or ""
    answer: JSON


@dataclass(frozen=True)
class Sample:
    """The demo rows every detection example sends, as both request shapes."""

    first_row: int  # of the demo data
    n_rows: int
    fault_index: int  # the request row where the labelled fault starts
    rows: JSON  # {"values", "columns", "timestamps"}
    series: JSON  # {"series", "timestamps"}


@dataclass(frozen=True)
class Served:
    """What the demo server (default settings) answered."""

    health: JSON
    model: JSON
    detect: JSON
    detect_last: JSON
    windows_request: JSON
    windows: JSON
    # a request with missing values and its answer (absent from captures made before them)
    gaps_request: JSON = field(default_factory=dict)
    gaps: JSON = field(default_factory=dict)
    # a value far outside the training range, at /detect/last (absent from earlier captures)
    out_of_range_request: JSON = field(default_factory=dict)
    out_of_range: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Secured:
    """What the server with keys answered, over a folder with a broken model beside the demo."""

    ready: JSON
    models: JSON
    reload: JSON  # version 2 swapped in
    reload_again: JSON  # nothing newer: nothing changed
    cors_request: list[str]  # the preflight's headers, "Name: value"
    cors_answer: list[str]  # the answer's status line and access-control headers


@dataclass(frozen=True)
class Captures:
    """Everything app/api/examples.json holds."""

    sample: Sample
    served: Served
    secured: Secured
    problems: dict[str, Refusal]  # name -> every refused request, by status, in capture order

    def answer(self, name: str) -> JSON:
        return self.problems[name].answer

    def to_json(self) -> JSON:
        return {
            "sample": dataclasses.asdict(self.sample),
            "served": dataclasses.asdict(self.served),
            "secured": dataclasses.asdict(self.secured),
            "problems": [dataclasses.asdict(refusal) for refusal in self.problems.values()],
        }

    @classmethod
    def from_json(cls, data: JSON) -> Captures:
        refusals = [Refusal(**refusal) for refusal in data["problems"]]
        return cls(
            sample=Sample(**data["sample"]),
            served=Served(**data["served"]),
            secured=Secured(**data["secured"]),
            problems={refusal.name: refusal for refusal in refusals},
        )


def write(captures: Captures, path: Path = EXAMPLES_FILE) -> None:
    path.write_text(json.dumps(captures.to_json(), indent=1, ensure_ascii=False) + "\n")


def read(path: Path = EXAMPLES_FILE) -> Captures:
    return Captures.from_json(json.loads(path.read_text(encoding="utf-8")))
