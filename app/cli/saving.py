"""Store a freshly trained model with its training report (the CLI and `serve --demo`)."""

from __future__ import annotations

from pathlib import Path

from models.artifact import ModelStore
from models.training import TrainedModel

REPORT_FILE = "training-report.png"


def save_trained(store: ModelStore, name: str, trained: TrainedModel) -> tuple[int, Path]:
    from app.cli.plots import training_report_png

    report = training_report_png(name, trained.spec, trained.curves)
    return store.write(
        name, trained.spec, trained.weights, trained.onnx, extra_files={REPORT_FILE: report}
    )
