"""Progress bars: drawn for a person at a terminal, silent otherwise."""

from __future__ import annotations

import io

from app.cli.progress import EpochBar, FleetBar, WindowBar, wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_are_wanted_only_at_a_terminal_and_without_quiet() -> None:
    assert wanted(quiet=False, stream=Terminal())
    assert not wanted(quiet=True, stream=Terminal())
    assert not wanted(quiet=False, stream=io.StringIO())


def test_the_epoch_bar_shows_epochs_losses_and_closes_after_early_stopping() -> None:
    screen = Terminal()
    bar = EpochBar(True, screen)
    for epoch in (1, 2, 3):
        bar(epoch, 50, 0.5 / epoch, 0.6 / epoch, 1.0)
    bar.close()  # stopped early at 3 of 50
    text = screen.getvalue()
    assert "3/50" in text
    assert "val_loss=0.2" in text
    assert text.endswith("\n")


def test_the_window_bar_counts_windows_and_a_disabled_bar_writes_nothing() -> None:
    screen = Terminal()
    bar = WindowBar(True, screen)
    bar(8192, 9000)
    bar(9000, 9000)
    bar.close()
    assert "9.00k/9.00k" in screen.getvalue()
    silent = io.StringIO()
    quiet = WindowBar(False, silent)
    quiet(10, 10)
    quiet.close()
    assert silent.getvalue() == ""


def test_the_fleet_bar_counts_models_done_and_the_failed_ones() -> None:
    screen = Terminal()
    bar = FleetBar(True, 3, screen)
    for failed in (False, True, False):
        bar(failed)
    bar.close()
    text = screen.getvalue()
    assert "3/3" in text
    assert "failed=1" in text
    silent = io.StringIO()
    quiet = FleetBar(False, 3, silent)
    quiet(True)
    quiet.close()
    assert silent.getvalue() == ""
