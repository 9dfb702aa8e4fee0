"""Store a freshly trained model with its training report (`rarewatch train`, which also
trains `serve --demo`'s model)."""

from __future__ import annotations

from pathlib import Path

from models.artifact import ModelStore
from models.training import TrainedModel, store_trained

REPORT_FILE = "training-report.png"


def save_trained(store: ModelStore, name: str, trained: TrainedModel) -> tuple[int, Path]:
    from app.cli.plots import training_report_png

    report = training_report_png(name, trained.spec, trained.curves)
    return store_trained(store, name, trained, extra_files={REPORT_FILE: report})
