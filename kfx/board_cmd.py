"""`kfx board`: TensorBoard on the training logs of the latest run, of a pushed version, or of every run."""

import argparse
import os
import signal
import sys
import tempfile

from kfx import options


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx board`."""
    board = commands.add_parser(
        "board",
        help="start TensorBoard on loopback on the training logs (latest run, a version, or all runs)",
        description="Starts TensorBoard on 127.0.0.1 and prints its URL; Ctrl-C stops it.",
    )
    which = board.add_mutually_exclusive_group()
    which.add_argument("--version", help="training logs of this pushed version")
    which.add_argument("--all", action="store_true", help="every run's training logs side by side")
    board.add_argument("--port", type=_port, default=6006, help="port (default 6006; 0 picks a free one)")
    options.add_workspace(board)
    board.set_defaults(func=run_board)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0-65535)")
    return port


def named_links(runs: dict[str, str], folder: str) -> str:
    """A link in `folder` to each run's log folder, named as TensorBoard shows the run; returns `folder`.

    Not --logdir_spec: its run names cannot hold the colons of a run id, and it turns off the fast data server."""
    for name, path in runs.items():
        os.symlink(path, os.path.join(folder, name), target_is_directory=True)
    return folder


def run_board(args: argparse.Namespace) -> int:
    """Serves TensorBoard until Ctrl-C or SIGTERM; exit 2 when there are no training logs, 1 if it cannot start."""
    options.quiet_tensorflow()
    from monitoring import lineage, store

    try:
        metadata = options.read_metadata(args)
        logdir = lineage.training_logdir(metadata, args.version, args.all)
    except (FileNotFoundError, store.MetadataUnavailable, lineage.LineageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    if args.all:  # TensorBoard names a run after its folder: one link per training, named by run id and date
        links = tempfile.TemporaryDirectory(prefix="kfx-board-")
        logdir = named_links(lineage.training_runs(metadata), links.name)
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(args.port)])
    try:
        url = board.launch()
    except program.TensorBoardServerException as error:
        print(f"error: TensorBoard cannot start: {error.msg}", file=sys.stderr)
        return options.EXIT_FAILED
    shown = f"{logdir}" if not args.all else f"{len(os.listdir(logdir))} trainings, linked from {logdir}:"
    for name in sorted(os.listdir(logdir)) if args.all else []:
        shown += f"\n  {name} -> {os.readlink(os.path.join(logdir, name))}"
    print(f"TensorBoard {url} on {shown}\nCtrl-C stops it.", flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    while True:
        signal.pause()
