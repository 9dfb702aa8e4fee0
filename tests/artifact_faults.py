"""Damaged JSON files of a stored model, for the fuzz tests: hypothesis strategies that mutate
manifest.json or detector.json (types, missing and extra keys, huge and non-finite numbers,
nesting, bytes that are not JSON or not UTF-8), and the writing of such a version."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from models.artifact import MANIFEST_FILE, SPEC_FILE, ModelStore, sha256_of

# an exception's class name or a traceback: what no reason and no answer may show
PYTHON_INTERNALS = re.compile(r"Traceback|\b[A-Za-z]*(Error|Exception)\b|File \"")

ODD_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64, 10**30, -(10**30), 1e308, -1e308, 5e-324]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(ODD_NUMBERS + NON_FINITE),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=4),
)
NOT_JSON = [b"", b"{", b"\xff\xfe{}", b'{"files": "\xff"}', b"[" * 5000, b"null", b"[]", b"1e400"]


@dataclass(frozen=True)
class Damage:
    file: str  # MANIFEST_FILE or SPEC_FILE
    what: str  # for the failure message
    data: bytes


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: the root, then each key and index, depth first."""
    found = [at]
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        found += _paths(child, (*at, key))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


@st.composite
def damaged(draw: st.DrawFn, folder: Path, file: str) -> Damage:
    """One defect of `file` in the version at `folder`: a JSON value replaced, a key removed or
    added, a value wrapped in a list, or bytes that do not parse."""
    original = (folder / file).read_bytes()
    document = json.loads(original)
    kind = draw(st.sampled_from(["replace", "delete", "add", "wrap", "bytes", "truncate"]))
    path = draw(st.sampled_from(_paths(document)))
    if kind == "bytes":
        data = draw(st.sampled_from(NOT_JSON))
        return Damage(file, f"bytes {data[:20]!r}", data)
    if kind == "truncate":
        cut = draw(st.integers(min_value=0, max_value=len(original) - 1))
        return Damage(file, f"cut at byte {cut}", original[:cut])
    target = _get(document, path)
    if kind == "delete" and path:
        parent = _get(document, path[:-1])
        del parent[path[-1]]
    elif kind == "add" and isinstance(target, dict):
        target[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    elif kind == "wrap":
        document = _set(document, path, [target])
    else:
        document = _set(document, path, draw(JSON_VALUES))
    data = json.dumps(document).encode()  # NaN and Infinity as Python writes them
    return Damage(file, f"{kind} at {'.'.join(map(str, path)) or 'top level'}", data)


def write_damaged(store: ModelStore, name: str, source_version: int, damage: Damage) -> int:
    """A new version of `name`: a copy of `source_version` with `damage` done to it. A damaged
    detector.json gets its new SHA-256 in the manifest, so that it is parsed, not just refused
    by its hash. Returns the new version."""
    version = store.versions(name)[-1] + 1
    folder = store.root / name / str(version)
    shutil.copytree(store.root / name / str(source_version), folder)
    (folder / damage.file).write_bytes(damage.data)
    if damage.file == SPEC_FILE:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        manifest["files"][SPEC_FILE] = sha256_of(folder / SPEC_FILE)
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return version
