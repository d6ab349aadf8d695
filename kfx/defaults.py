"""What the `kfx` commands share: the shipped configuration file, exit codes, workspace flags, quiet imports."""

import argparse
import logging
import os
import warnings

DEFAULT_CONFIG = os.path.join("configs", "chicago_taxi.yaml")
# 1: the work started and failed (a component, the backend); 2: bad input, nothing ran or was sent.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's and the Google libraries' import-time chatter and TFMA's deprecation notices off the console.

    Call before the command imports TensorFlow, TFX or the monitoring package.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def add_workspace_flags(parser: argparse.ArgumentParser) -> None:
    """--workspace and --metadata-path, for the commands that read what `kfx run` recorded."""
    parser.add_argument(
        "--workspace",
        default=os.environ.get("KFX_WORKSPACE", "workspace"),
        help="workspace of `kfx run` (env KFX_WORKSPACE; default ./workspace)",
    )
    parser.add_argument(
        "--metadata-path",
        default=os.environ.get("KFX_METADATA_PATH"),
        help="ML Metadata SQLite file (env KFX_METADATA_PATH; default <workspace>/metadata.sqlite)",
    )


def metadata_path(args: argparse.Namespace) -> str:
    """The ML Metadata file of `add_workspace_flags`; FileNotFoundError naming the fix when there is none."""
    path = os.path.abspath(args.metadata_path or os.path.join(args.workspace, "metadata.sqlite"))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no ML Metadata at {path}: run `kfx run` first, or pass its --workspace")
    return path
