"""The demo data set rarewatch makes itself: correlated sensors, a daily cycle, noise, faults."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEMO_FEATURES = ["load", "temperature", "pressure", "flow", "vibration"]


def demo_frame(n_rows: int = 4320, seed: int = 7, step_minutes: int = 10) -> pd.DataFrame:
    """30 days at 10-minute steps by default; a few labelled faults, each breaking one sensor.

    load follows a daily cycle; temperature lags it, pressure and flow follow it, vibration grows
    with it. A fault breaks one relation (a stuck sensor, a spike, a drift), so a detector that
    learned the relations can name the feature at fault.
    """
    rng = np.random.default_rng(seed)
    minutes = np.arange(n_rows) * step_minutes
    day = 2 * np.pi * minutes / (24 * 60)
    load = 50 + 20 * np.sin(day - np.pi / 2) + rng.normal(0, 1.5, n_rows)
    temperature = 40 + 0.3 * np.roll(load, 3) + rng.normal(0, 0.4, n_rows)
    pressure = 2.0 + 0.02 * load + rng.normal(0, 0.03, n_rows)
    flow = 10 + 0.5 * pressure * load / 10 + rng.normal(0, 0.2, n_rows)
    vibration = 0.5 + 0.01 * load + rng.normal(0, 0.02, n_rows)
    labels = np.zeros(n_rows, dtype=np.int8)

    def fault(fraction: float, length: int) -> slice:
        start = int(n_rows * fraction)
        labels[start : start + length] = 1
        return slice(start, start + length)

    vibration[fault(0.30, 12)] += 0.4  # bearing knock: vibration jumps
    stuck = fault(0.55, 18)
    pressure[stuck] = pressure[stuck.start - 1]  # pressure sensor stuck
    flow[fault(0.72, 10)] -= 6.0  # blocked pipe: flow drops while load holds
    drifting = fault(0.88, 24)
    temperature[drifting] += np.linspace(2, 14, drifting.stop - drifting.start)  # overheating

    times = pd.date_range("2026-01-01", periods=n_rows, freq=f"{step_minutes}min", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "load": load.round(3),
            "temperature": temperature.round(3),
            "pressure": pressure.round(4),
            "flow": flow.round(3),
            "vibration": vibration.round(4),
            "label": labels,
        }
    )
