"""The detection plot's event names: close events get names that do not cover each other."""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from app.cli.plots import _spread


def test_names_of_events_at_the_same_place_are_spread_until_none_overlaps() -> None:
    fig = Figure()
    canvas = FigureCanvasAgg(fig)  # files only, no display
    ax = fig.subplots()
    ax.plot([0, 10], [0, 1])
    names = [
        ax.annotate(word, (5, 1), textcoords="offset points", xytext=(0, 4), ha="center")
        for word in ("load", "temperature", "vibration", "flow")
    ]
    _spread(names, fig)
    boxes = [Text.get_window_extent(name, canvas.get_renderer()) for name in names]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert [name.xyann for name in names].count((0, 4)) == 1  # one keeps its place above
