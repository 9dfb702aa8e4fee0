"""Progress bars for long CLI work, on stderr, shown only to a person at a terminal.

tqdm draws them; they stay silent with --quiet or when stderr is not a terminal (logs, pipes,
CI), so scripted output holds only what the command reports.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    return not quiet and stream.isatty()


class EpochBar:
    """Training: one step per epoch, with the losses; tqdm estimates the time left (at most:
    early stopping may end sooner)."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled, self.stream = enabled, stream
        self._bar: tqdm | None = None

    def __call__(self, epoch: int, epochs: int, loss: float, val_loss: float, _: float) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=epochs, unit="epoch", desc="training", file=self.stream, dynamic_ncols=True
            )
        self._bar.set_postfix(loss=f"{loss:.4g}", val_loss=f"{val_loss:.4g}", refresh=False)
        self._bar.update(epoch - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class WindowBar:
    """Scoring: windows reconstructed so far out of all of them."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled, self.stream = enabled, stream
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=total,
                unit="window",
                unit_scale=True,
                desc="scoring",
                file=self.stream,
                dynamic_ncols=True,
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class FleetBar:
    """Fleet training: models done (trained, skipped or failed) out of the fleet's."""

    def __init__(self, enabled: bool, total: int, stream: TextIO | None = None) -> None:
        self._bar = (
            tqdm(total=total, unit="model", desc="fleet", file=stream, dynamic_ncols=True)
            if enabled
            else None
        )
        self._failed = 0

    def __call__(self, failed: bool) -> None:
        if self._bar is None:
            return
        self._failed += failed
        self._bar.set_postfix(failed=self._failed, refresh=False)
        self._bar.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
