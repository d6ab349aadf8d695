"""`kfx runs`: every run of the workspace, newest first (monitoring.runs)."""

import argparse
import json
import sys

from kfx import options
from runners.local import lock


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx runs`."""
    runs = commands.add_parser(
        "runs",
        help="list every run of the workspace: outcome, spans, data, config, commit, metrics, pushed version",
        description="Reads the runs from ML Metadata, newest first: run id (as `kfx report --run` takes it), start "
        "time, duration, outcome (pushed, not blessed, not pushed, blocked by the data or drift check, failed, "
        "interrupted, running), spans and the data fingerprint, the configuration file's sha256, the git commit, "
        "AUC and accuracy (from the run's summary in <workspace>/logs) and the pushed version.",
    )
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options.add_workspace(runs)
    runs.set_defaults(func=run_runs)


def run_runs(args: argparse.Namespace) -> int:
    """Prints the runs; exit 2 when ML Metadata is missing or cannot be opened."""
    options.quiet_tensorflow()
    from monitoring import runs as runs_lib
    from monitoring import store

    try:
        workspace = options.workspace(args)
        found = runs_lib.list_runs(
            options.read_metadata(args),
            workspace.logs_dir,
            in_progress=lock.live_holder(workspace.lock_paths()) is not None,
        )
    except (FileNotFoundError, store.MetadataUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    if args.json:
        print(json.dumps([run.to_dict() for run in found], indent=2))
    else:
        print(runs_lib.format_runs(found))
    return 0
