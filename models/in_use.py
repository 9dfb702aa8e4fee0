"""Which version of a model the watch loop uses and why: artifacts/NAME/in_use.json."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.artifact import check_name
from models.files import write_atomically

IN_USE_FILE = "in_use.json"  # beside the version folders; a store's scan reads digits only

log = logging.getLogger(__name__)


class InUse(BaseModel):
    """The record: a version, since when (ISO 8601, UTC) and why, in plain words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    since: str
    why: str


def write_in_use(models_dir: Path, name: str, version: int, why: str) -> InUse:
    """Record `version` of `name` as the one in use from now, atomically (temp + rename)."""
    record = InUse(version=version, since=datetime.now(UTC).isoformat(timespec="seconds"), why=why)
    target = Path(models_dir) / check_name(name) / IN_USE_FILE
    write_atomically(target, lambda path: path.write_text(record.model_dump_json(indent=2) + "\n"))
    return record


def read_in_use(models_dir: Path, name: str) -> InUse | None:
    """The record, or None when the model was never watched (or its record cannot be read:
    logged, since it only describes and never decides what is served)."""
    path = Path(models_dir) / check_name(name) / IN_USE_FILE
    try:
        return InUse.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("%s cannot be read: %s", path, " ".join(str(exc).split())[:200])
        return None
