"""`kfx lineage` and `kfx board`: where a served version came from, and its training curves in TensorBoard."""

import argparse
import json
import os
import signal
import sys

from kfx.defaults import DEFAULT_CONFIG, EXIT_BAD_INPUT, add_workspace_flags, metadata_path, quiet_tensorflow


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx lineage` and `kfx board`."""
    lineage = commands.add_parser(
        "lineage",
        help="show where a pushed version came from (runs, artifacts, spans, files, commit)",
        description="Walks ML Metadata from the push of a version back through Evaluator (metrics, blessing, "
        "baseline), Trainer, Transform, schema, validation and drift checks to the spans, files and fingerprint "
        "ExampleGen read, with run ids, artifact URIs, times and the git commit of each run.",
    )
    lineage.add_argument("--version", help="pushed version (default: the newest)")
    lineage.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_workspace_flags(lineage)
    lineage.set_defaults(func=run_lineage)

    board = commands.add_parser(
        "board",
        help="start TensorBoard on loopback on the training logs (latest run, a version, or all runs)",
        description="Starts TensorBoard on 127.0.0.1 and prints its URL; Ctrl-C stops it.",
    )
    which = board.add_mutually_exclusive_group()
    which.add_argument("--version", help="training logs of this pushed version")
    which.add_argument("--all", action="store_true", help="every run's training logs side by side")
    board.add_argument("--port", type=int, default=6006, help="port (default 6006; 0 picks a free one)")
    board.add_argument("--config", default=os.environ.get("KFX_CONFIG", DEFAULT_CONFIG), help=argparse.SUPPRESS)
    add_workspace_flags(board)
    board.set_defaults(func=run_board)


def run_lineage(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from monitoring import lineage, store

    try:
        found = lineage.served_lineage(store.connect(metadata_path(args)), args.version)
    except (FileNotFoundError, lineage.LineageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(found.to_dict(), indent=2, default=str) if args.json else lineage.format_lineage(found))
    return 0


def training_logdir(metadata_path: str, version: str | None, all_runs: bool) -> str:
    """The Trainer's `model_run` folder of a version, of the newest training, or (all_runs) their parent."""
    from monitoring import lineage, store

    connection = store.connect(metadata_path)
    if version:
        return lineage.served_lineage(connection, version).step("Trainer").outputs["model_run"]
    runs = sorted(connection.get_artifacts_by_type("ModelRun"), key=lambda a: a.create_time_since_epoch)
    if not runs:
        raise lineage.LineageError("no training has run in this workspace yet; run `kfx run` first")
    return os.path.dirname(runs[-1].uri.rstrip("/")) if all_runs else runs[-1].uri


def run_board(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from monitoring import lineage

    try:
        logdir = training_logdir(metadata_path(args), args.version, args.all)
    except (FileNotFoundError, lineage.LineageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a port number", file=sys.stderr)
        return EXIT_BAD_INPUT
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(args.port)])
    try:
        url = board.launch()
    except program.TensorBoardServerException as error:
        print(f"error: TensorBoard cannot start: {error.msg}", file=sys.stderr)
        return 1
    print(f"TensorBoard {url} on {logdir}\nCtrl-C stops it.", flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    while True:
        signal.pause()
