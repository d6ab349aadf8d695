"""`kfx run`: the pipeline on this machine (runners.local)."""

import argparse
import sys

from kfx import options, rollout_cmd
from pipeline import config as config_lib
from runners import cpus
from runners.local import run as local_run


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx run`."""
    run = commands.add_parser(
        "run",
        help="run the pipeline locally (LocalDagRunner, Beam DirectRunner, MLMD in SQLite or a database)",
        description="Validates the config and data, runs every component (reusing cached results), and prints "
        "the validation result, metrics, blessing and pushed version. TFX/Beam logs go to <workspace>/logs/. When "
        "the data files, configuration, code and served model are those of the last run, which completed, it "
        "prints that run's results from ML Metadata without running anything (--no-cache runs).",
    )
    options.add_config(run)
    run.add_argument("--data", help="CSV file, folder of CSVs or folder of span-<N>/ folders; overrides data.path")
    run.add_argument(
        "--span",
        type=options.positive_int,
        help="run as if span K were the newest (replays continuous training one span at a time); default: the "
        "highest span",
    )
    options.add_workspace(run, run_paths=True)
    run.add_argument(
        "--train-steps", type=options.positive_int, help="maximum training steps; overrides training.train_steps"
    )
    run.add_argument("--no-cache", action="store_true", help="run every component even if its inputs are unchanged")
    run.add_argument(
        "--accept-drift",
        nargs="?",
        const="",
        metavar="NOTE",
        help="accept the newest span's drift past the blocking thresholds (a real change): recorded in ML Metadata "
        "with your user, host, the time and NOTE; later runs keep it for the same files",
    )
    run.add_argument(
        "--direct_num_workers",
        type=options.positive_int,
        help="Beam DirectRunner workers (1: in memory; more: worker processes); default: one per usable CPU (the "
        f"container's CPU limit) from {cpus.MULTI_PROCESSING_MIN_CPUS} CPUs on, else 1",
    )
    options.add_verbose(run, "TFX/Beam logs")
    run.set_defaults(func=run_local)


def run_local(args: argparse.Namespace) -> int:
    """Runs the pipeline; ConfigError/DataError (exit 2) or RunFailed (exit 1) are told in one line by kfx.cli."""
    run_options = local_run.RunOptions(
        config_path=args.config,
        workspace=options.workspace(args),
        data_path=args.data,
        span=args.span,
        train_steps=args.train_steps,
        enable_cache=not args.no_cache,
        direct_num_workers=args.direct_num_workers,
        verbose=args.verbose,
        accept_drift=args.accept_drift,
    )
    summary = local_run.run(run_options, sys.stdout)
    # rollout.on_push: a pushed version goes to canary or shadow instead of leaving the labels alone.
    config = config_lib.load(args.config)
    return rollout_cmd.after_push(config, run_options.workspace, summary.get("pushed_version"), sys.stdout)
