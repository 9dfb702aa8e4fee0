"""A fast path for large detection bodies: `values` parsed by simdjson straight into a float array.

A 10,000 x 59 body is 590,000 numbers. orjson makes each a Python float, the schema then checks
each and numpy copies them into an array; simdjson parses the text and writes the numbers into
one float64 buffer, with no Python object per number (`python -m bench.perf.breakdown` times
both ways; docs/benchmarks.md has the figures).

The fast path only ever says yes or "not mine": any body it does not fully understand (other
keys, nested or ragged rows, a non-number, a number simdjson cannot hold, broken JSON) goes to the
ordinary parser and the schema, which give the same answers and the same errors as always.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import simdjson

# Smaller bodies parse fast enough either way; the ordinary path is the reference.
FAST_PATH_BYTES = 64 * 1024
# The keys of a rows request (schemas.DetectRequest) the fast path handles; `series` is not one.
KEYS = frozenset({"values", "columns", "timestamps", "threshold", "fill", "strict"})


@dataclass(frozen=True, slots=True)
class NumericRows:
    """`values` as the fast path parsed it: rectangular rows of JSON numbers, as float64."""

    array: np.ndarray  # (n_rows, n_columns), read-only

    def __len__(self) -> int:
        return len(self.array)

    @property
    def n_columns(self) -> int:
        return int(self.array.shape[1])


def parse_rows_body(body: bytes) -> dict[str, Any] | None:
    """The body as the ordinary parser would give it, with `values` as NumericRows; None when
    the fast path does not apply."""
    with _parser_for(len(body)) as parser:
        return _read_rows_body(parser, body)


# A parser sizes its buffers to the largest document it has read (about twice the body) and
# keeps them: reusing one saves their allocation on every large body. One shared parser, for bodies
# up to this size, bounds what it keeps; concurrent or larger bodies get a parser of their own.
REUSED_PARSER_MAX_BYTES = 16 * 1024 * 1024
_shared_parser = simdjson.Parser()
_shared_parser_lock = threading.Lock()


@contextmanager
def _parser_for(size: int) -> Iterator[simdjson.Parser]:
    if size <= REUSED_PARSER_MAX_BYTES and _shared_parser_lock.acquire(blocking=False):
        try:
            yield _shared_parser
        finally:
            _shared_parser_lock.release()
    else:
        yield simdjson.Parser()


def _read_rows_body(parser: simdjson.Parser, body: bytes) -> dict[str, Any] | None:
    """parse_rows_body's work. Every simdjson object it makes ends with this call: a parser
    refuses a new document while objects of its last one live."""
    try:
        document = parser.parse(body)
    except (ValueError, RuntimeError):  # not JSON simdjson takes (e.g. an integer past 64
        # bits, which orjson reads as a float): the ordinary parser decides
        return None
    if not isinstance(document, simdjson.Object):
        return None
    keys = list(document.keys())
    if "values" not in keys or not KEYS.issuperset(keys) or len(set(keys)) != len(keys):
        return None
    values = document["values"]
    if not isinstance(values, simdjson.Array) or len(values) == 0:
        return None
    try:
        flat = np.frombuffer(values.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):  # a non-number, or an integer past 64 bits
        return None
    n_rows = len(values)
    n_columns, left_over = divmod(len(flat), n_rows)
    if left_over or not all(
        isinstance(row, simdjson.Array) and len(row) == n_columns for row in values
    ):
        return None  # ragged rows: the schema and rows_of name the row
    others = {key: _plain(document[key]) for key in keys if key != "values"}
    if not _nothing_nested(body, n_rows, others):
        return None
    return {**others, "values": NumericRows(flat.reshape(n_rows, n_columns))}


def _plain(value: Any) -> Any:
    if isinstance(value, simdjson.Array):
        return value.as_list()
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    return value


def _nothing_nested(body: bytes, n_rows: int, others: dict[str, Any]) -> bool:
    """True when no row of `values` holds an array, given that each of its n_rows rows is an
    array of n_columns items and that it holds n_rows x n_columns numbers in all.

    as_buffer flattens nested arrays, and counts of items cannot tell [1, 2] from [1, [2]], so
    the brackets of the body are counted: those of `values` and its rows, one per other list,
    and those inside the other lists' strings. A bracket written as an escape inside a string
    only makes the counts differ, which sends the body to the ordinary path: never a wrong yes.
    """
    expected = n_rows + 1
    for value in others.values():
        if isinstance(value, list):
            expected += 1 + sum(item.count("[") for item in value if isinstance(item, str))
            if any(isinstance(item, list | dict) for item in value):
                return False
        elif isinstance(value, dict):
            return False
    # numpy's vectorized compare counts faster than bytes.count on bodies this large
    return int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord("["))) == expected
