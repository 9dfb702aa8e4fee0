"""Store a freshly trained model with its training report (`rarewatch train` and `train-fleet`,
which also trains `serve --demo`'s model)."""

from __future__ import annotations

from pathlib import Path

from models.artifact import ModelStore
from models.training import TrainedModel, store_trained

REPORT_FILE = "training-report.png"


def report_files(name: str, trained: TrainedModel) -> dict[str, bytes]:
    """The files for people stored beside the model: its training report."""
    from app.cli.plots import training_report_png

    return {REPORT_FILE: training_report_png(name, trained.spec, trained.curves)}


def save_trained(store: ModelStore, name: str, trained: TrainedModel) -> tuple[int, Path]:
    return store_trained(store, name, trained, extra_files=report_files(name, trained))
