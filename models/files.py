"""Writing a file so that readers see either the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary)` beside `target`, then rename it into place; on any failure the
    temporary file is removed and `target` is untouched. The file gets the usual permissions
    (umask applies), unlike tempfile.mkstemp's 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
