"""The fit of a refit, run as its own process: `python -m models.refit_job JOB_DIR PARENT_PID`
(it ends itself once PARENT_PID is gone).

JOB_DIR holds rows.npz (times as int64 nanoseconds UTC, values, flagged) and job.json (the
model's name, features and training options). The fitted model is stored in JOB_DIR/store, and
result.json says what happened (ok, why not, whether the flags had to be ignored); the caller
checks the model and stores it for real. It runs apart so that the process asking for the
refit never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from models.artifact import ModelStore
from models.data import Dataset
from models.errors import InvalidInput, RarewatchError
from models.spec import TrainingOptions
from models.training import TrainedModel, store_trained, train_detector

ROWS_FILE = "rows.npz"
JOB_FILE = "job.json"
RESULT_FILE = "result.json"
STORE_FOLDER = "store"
TIME_COLUMN = "time"


def job_dataset(job_dir: Path) -> tuple[str, Dataset, TrainingOptions]:
    """The name, the rows (flagged rows labelled 1: training leaves their windows out, as it
    does any labelled row's) and the options of a job."""
    import pandas as pd

    job = json.loads((job_dir / JOB_FILE).read_text())
    with np.load(job_dir / ROWS_FILE, allow_pickle=False) as rows:
        times = pd.Series(pd.to_datetime(rows["times"], utc=True))
        values = np.asarray(rows["values"], dtype=np.float64)
        flagged = np.asarray(rows["flagged"], dtype=np.int8)
    data = Dataset(job["features"], values, flagged, times, TIME_COLUMN, None)
    return job["name"], data, TrainingOptions.model_validate(job["options"])


def fit(data: Dataset, options: TrainingOptions) -> tuple[TrainedModel, bool]:
    """The model, and whether the flags were ignored. When leaving out the flagged rows leaves
    no normal window to fit or validate on, the version in use flags nearly everything: the
    normal level has moved (drift), which a refit is there to learn, so every row is kept;
    refusing instead would keep the stale version, and its flags, for good."""
    try:
        return train_detector(data, options), False
    except InvalidInput:
        if data.labels is None or not data.labels.any():
            raise
    return train_detector(dataclasses.replace(data, labels=None), options), True


def end_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Exit as soon as `parent`, the process that started this one, is gone: a watch stopped
    mid-fit must not leave its fit running (a parent-death signal would need preexec_fn, unsafe
    in the threads the watch runs refits in)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="end-with-parent").start()


def main(argv: list[str] | None = None) -> int:
    job, parent = argv if argv is not None else sys.argv[1:]
    end_with_parent(int(parent))
    job_dir = Path(job)
    name, data, options = job_dataset(job_dir)
    try:
        trained, flags_ignored = fit(data, options)
    except RarewatchError as exc:  # data the options cannot train on: a reason, not a crash
        (job_dir / RESULT_FILE).write_text(json.dumps({"ok": False, "reason": exc.detail}))
        return 2
    store_trained(ModelStore(job_dir / STORE_FOLDER), name, trained)
    result = {"ok": True, "reason": "", "flags_ignored": flags_ignored}
    (job_dir / RESULT_FILE).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
