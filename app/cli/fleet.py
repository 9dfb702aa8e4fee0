"""`rarewatch train-fleet`: one model per entity of a table or a folder, fitted in parallel on Ray.

Exit codes: 0 when every entity was trained or skipped, 1 when one or more failed (the others
are stored all the same), 2 for bad input, before anything is trained (one line on stderr).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.settings import Settings
from models.wording import plural

if TYPE_CHECKING:
    from models.fleet import Outcome

EXIT_SOME_FAILED = 1


def add_fleet_command(commands: Any) -> None:
    """Register `train-fleet` with train's column, feature and training flags."""
    from app.cli.main import _add_column_options, _add_training_options

    fleet = commands.add_parser(
        "train-fleet",
        help="train one model per entity of a table or a folder, in parallel on Ray",
        description=" ".join(__doc__.split()),  # what it does and its exit codes
    )
    fleet.add_argument(
        "data",
        type=Path,
        help="a CSV or Parquet table with an entity column, or a folder of such files, "
        "one per entity (named by the file's stem)",
    )
    fleet.add_argument(
        "--entity-column", help="with a table: the column naming each row's entity (required)"
    )
    fleet.add_argument(
        "--prefix", default="", help="model names are PREFIX + entity (default: none)"
    )
    _add_column_options(fleet)
    _add_training_options(fleet)
    fleet.add_argument(
        "--overrides",
        type=Path,
        help='JSON file of per-entity options, {"entity": {"epochs": 20, "units": "16,8"}} '
        "(default: none)",
    )
    fleet.add_argument(
        "--force",
        action="store_true",
        help="train every entity (default: skip one whose newest model has its data and options)",
    )
    fleet.add_argument(
        "--cpus", type=int, help="a local Ray's CPUs, one fit each (default: the machine's)"
    )
    fleet.add_argument(
        "--address",
        help="an existing Ray cluster, e.g. auto or ray://head:10001 (default: a local Ray)",
    )
    fleet.add_argument(
        "--quiet", action="store_true", help="no progress display (default: shown at a terminal)"
    )


def cmd_train_fleet(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli.main import training_options
    from app.cli.progress import FleetBar, wanted
    from app.cli.saving import report_files
    from models.artifact import ModelStore
    from models.errors import InvalidInput
    from models.fleet import Status, plan, ray_started, read_fleet, read_overrides, train_fleet

    if args.cpus is not None and (args.cpus < 1 or args.address):
        raise InvalidInput("--cpus must be at least 1, and is for a local Ray, not --address")
    options = training_options(args)
    entities = read_fleet(
        args.data,
        entity_column=args.entity_column,
        time_column=args.time_column,
        label_column=args.label_column,
        features=args.features,
        exclude=args.exclude,
    )
    overrides = read_overrides(args.overrides) if args.overrides else None
    store = ModelStore(settings.model_dir)
    jobs = plan(entities, options, store, prefix=args.prefix, overrides=overrides, force=args.force)
    bar = FleetBar(wanted(args.quiet), len(jobs))
    try:
        if all(job.outcome is not None for job in jobs):  # nothing to fit: no Ray to start
            outcomes = [job.outcome for job in jobs if job.outcome is not None]
            for outcome in outcomes:
                bar(outcome.status is Status.FAILED)
        else:
            with ray_started(args.address, args.cpus):
                outcomes = train_fleet(
                    jobs,
                    store,
                    extra_files=report_files,
                    on_outcome=lambda o: bar(o.status is Status.FAILED),
                )
    finally:
        bar.close()
    print(summary_table(outcomes))
    return EXIT_SOME_FAILED if any(o.status is Status.FAILED for o in outcomes) else 0


def summary_table(outcomes: list[Outcome]) -> str:
    """One line per entity (entity, model, result, detail), then the counts."""
    from models.fleet import Status

    rows = [("ENTITY", "MODEL", "RESULT", "DETAIL")]
    for o in outcomes:
        result = o.status.value + (f" v{o.version}" if o.version is not None else "")
        detail = o.detail + (f", {o.seconds:.1f} s" if o.status is Status.TRAINED else "")
        rows.append((o.entity, o.name, result, detail))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
        for row in rows
    ]
    counts = {s: sum(o.status is s for o in outcomes) for s in Status}
    lines.append(
        f"{plural(len(outcomes), 'entity', 'entities')}: "
        + ", ".join(f"{n} {status.value}" for status, n in counts.items())
    )
    return "\n".join(lines)
