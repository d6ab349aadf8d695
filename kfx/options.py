"""What the `kfx` commands share: exit codes, the flags every command spells the same way, quiet imports."""

import argparse
import logging
import os
import warnings

from monitoring import connection
from runners.local import interrupts
from runners.local.workspace import Workspace

DEFAULT_CONFIG = os.path.join("configs", "chicago_taxi.yaml")
# 1: the work started and failed (a component, the backend, the server); 2: bad input, nothing ran or was sent.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = interrupts.EXIT_INTERRUPTED  # 130, also what a second Ctrl-C during a run exits with at once
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's and the Google libraries' import-time chatter and TFMA's deprecation notices off the console.

    Call before the command imports TensorFlow, TFX, the monitoring or the serving package.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def add_config(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """--config, defaulting to KFX_CONFIG or the shipped file; `purpose` says what the command reads from it."""
    parser.add_argument(
        "--config",
        default=os.environ.get("KFX_CONFIG", DEFAULT_CONFIG),
        help=f"pipeline configuration{purpose and ', ' + purpose} (env KFX_CONFIG; default {DEFAULT_CONFIG})",
    )


def add_metadata(parser: argparse.ArgumentParser) -> None:
    """--metadata TARGET (env KFX_METADATA): where ML Metadata lives; --metadata-path is its older name."""
    parser.add_argument(
        "--metadata",
        "--metadata-path",
        dest="metadata",
        metavar="TARGET",
        default=os.environ.get("KFX_METADATA") or os.environ.get("KFX_METADATA_PATH"),
        help="ML Metadata: a SQLite file (default <workspace>/metadata.sqlite), mysql://USER@HOST[:PORT]/DATABASE "
        "(MySQL or MariaDB), postgresql://USER@HOST[:PORT]/DATABASE, or grpc://HOST:PORT (Kubeflow Pipelines' "
        f"service, read-only); the password from {connection.PASSWORD_ENV} or the file named by "
        f"{connection.PASSWORD_FILE_ENV}, never the URL (env KFX_METADATA; --metadata-path and KFX_METADATA_PATH "
        "are older names)",
    )


def add_workspace(parser: argparse.ArgumentParser, *, run_paths: bool = False, serving_dir: bool = False) -> None:
    """--workspace and --metadata; with `run_paths` also --pipeline-root, with `serving_dir` --serving-dir."""
    parser.add_argument(
        "--workspace",
        default=os.environ.get("KFX_WORKSPACE", "workspace"),
        help="folder of local runs: metadata.sqlite, pipeline_root/, serving_model/, logs/, reports/ "
        "(env KFX_WORKSPACE; default ./workspace)",
    )
    add_metadata(parser)
    if run_paths:
        parser.add_argument(
            "--pipeline-root",
            default=os.environ.get("KFX_PIPELINE_ROOT"),
            help="artifact folder (env KFX_PIPELINE_ROOT; default <workspace>/pipeline_root)",
        )
    if run_paths or serving_dir:
        parser.add_argument(
            "--serving-dir",
            default=os.environ.get("KFX_SERVING_DIR"),
            help="base folder of pushed models, <dir>/<model name>/<version>/ "
            "(env KFX_SERVING_DIR; default <workspace>/serving_model)",
        )


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace the flags of `add_workspace` name; connection.MetadataUnavailable for a bad --metadata."""
    return Workspace.under(
        args.workspace,
        pipeline_root=getattr(args, "pipeline_root", None),
        metadata=args.metadata,
        serving_dir=getattr(args, "serving_dir", None),
    )


def read_metadata(args: argparse.Namespace):
    """The ML Metadata the flags of `add_workspace` name, opened read-only (monitoring.store.connect).

    FileNotFoundError when the workspace has no SQLite file yet, connection.MetadataUnavailable (one line naming
    the target and why) when the target is malformed or cannot be reached or read; `kfx` prints either as one
    line and exits 2.
    """
    from monitoring import store

    return store.connect(workspace(args).recorded_metadata())


def add_verbose(parser: argparse.ArgumentParser, shows: str) -> None:
    """--verbose: what it `shows` on the console, and full tracebacks."""
    parser.add_argument("--verbose", action="store_true", help=f"show {shows} and full tracebacks on the console")


def add_sample_rows(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    """--sample-rows N: how many rows of the data a profiling command reads at most."""
    parser.add_argument(
        "--sample-rows",
        type=positive_int,
        default=default,
        help=f"rows read at most{what}, spread over the files (default {default:,})",
    )
