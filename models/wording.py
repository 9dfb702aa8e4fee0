"""Counts in messages with the right grammar: `1 row`, `2 rows`, never `1 rows`."""

from __future__ import annotations


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """`n` and the noun, singular for exactly one: plural(1, "row") == "1 row"."""
    return f"{n} {noun(n, singular, plural_form)}"


def noun(n: int, singular: str, plural_form: str | None = None) -> str:
    """The noun alone in the number `n` asks for (`column` or `columns` before a list);
    `plural_form` for plurals that are not singular + s."""
    return singular if n == 1 else plural_form or singular + "s"


def listed(items: list[str], shown: int) -> str:
    """The first `shown` items, comma-separated, and how many more: `a, b and 3 more`."""
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")
