"""What both load benches end with: the checks' table, the run's header, the report written."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import NoReturn

from bench.report import git_commit, replace_section


def check_lines(checks: dict[str, bool]) -> list[str]:
    """The pass/fail table of a run's checks."""
    return [
        "| check | result |",
        "|---|---|",
        *[f"| {name} | {'pass' if ok else '**FAIL**'} |" for name, ok in checks.items()],
        "",
    ]


def publish(
    module: str,
    lines: list[str],
    passed: bool,
    write: Path | None,
    section: tuple[tuple[str, str], str],
    clients: str,
) -> NoReturn:
    """Print the report (the command, commit and date first), put it in `write`'s section
    (markers, heading) if asked, and exit 1 when a check failed."""
    header = [
        f"Run on {dt.date.today().isoformat()} at commit {git_commit()} with "
        f"`python -m {module} {' '.join(sys.argv[1:])}`".rstrip()
        + f" ({os.cpu_count()} cores, server and {clients} on the same machine).",
        "",
    ]
    report = "\n".join(header + lines)
    print(report)
    if write:
        markers, heading = section
        replace_section(write, markers, report, "Reliability", heading)
    sys.exit(0 if passed else 1)
