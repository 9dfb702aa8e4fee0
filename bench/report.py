"""What every benchmark report needs: the commit it measured and its own section of a document."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def slug(name: str) -> str:
    """A name as a file or folder name: lower case, runs of anything else than a-z and 0-9
    as one hyphen (a results folder per configuration, a model per lever)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def git_commit() -> str:
    """The short commit, marked when tracked files differ from it (so is the figure)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def replace_section(
    path: Path, markers: tuple[str, str], block: str, title: str, heading: str = ""
) -> None:
    """Put `block` between `markers` in `path`, leaving the rest of the document alone; a
    document (or a section) that does not exist yet is started with `title` (and `heading`)."""
    start, end = markers
    text = path.read_text() if path.exists() else f"# {title}\n"
    marked = f"{start}\n{block}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + marked + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + heading + marked + "\n"
    path.write_text(text)
