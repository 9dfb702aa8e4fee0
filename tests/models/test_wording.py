"""Counts in messages read as English: one row, two rows."""

import numpy as np
import pytest

from models.errors import NotEnoughRows
from models.windows import temporalize
from models.wording import listed, noun, plural


def test_plural_is_singular_for_exactly_one_only() -> None:
    assert [plural(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]
    assert plural(1, "normal window") == "1 normal window"
    assert plural(3, "series", "series") == "3 series"
    assert [noun(n, "column") for n in (1, 2)] == ["column", "columns"]


def test_a_message_about_one_row_says_it_in_the_singular() -> None:
    with pytest.raises(NotEnoughRows, match=r"^1 row given"):
        temporalize(np.zeros((1, 3)), lookback=4)


def test_a_long_list_shows_its_first_items_and_how_many_more() -> None:
    assert listed(["a", "b", "c"], 3) == "a, b, c"
    assert listed(["a", "b", "c", "d", "e"], 2) == "a, b and 3 more"
