"""The `kfx` command line: `kfx run` runs the pipeline locally, `kfx compile` and `kfx submit` take it to Kubeflow,
`kfx serve`, `kfx predict`, `kfx promote` and `kfx rollback` serve the pushed model."""

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from kfx import compile as compile_cmd
from kfx import config_cmd, cpus, lineage_cmd, local_run, monitor_cmd, predict, report_cmd, serve, submit
from kfx.defaults import DEFAULT_CONFIG, EXIT_BAD_INPUT, EXIT_FAILED
from kfx.kfp_connection import RedactingArgumentParser
from pipeline.config import ConfigError
from pipeline.data import DataError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = RedactingArgumentParser(prog="kfx", description="TFX pipeline: local runs on Beam with ML Metadata.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the pipeline locally (LocalDagRunner, Beam DirectRunner, MLMD in SQLite)",
        description="Validates the config and data, runs every component (reusing cached results), and prints "
        "the validation result, metrics, blessing and pushed version. TFX/Beam logs go to <workspace>/logs/.",
    )
    run.add_argument(
        "--config",
        default=os.environ.get("KFX_CONFIG", DEFAULT_CONFIG),
        help=f"pipeline configuration file (env KFX_CONFIG; default {DEFAULT_CONFIG})",
    )
    run.add_argument("--data", help="CSV file, folder of CSVs or folder of span-<N>/ folders; overrides data.path")
    run.add_argument(
        "--span",
        type=_positive_int,
        help="run as if span K were the newest (replays continuous training one span at a time); default: the "
        "highest span",
    )
    run.add_argument(
        "--workspace",
        default=os.environ.get("KFX_WORKSPACE", "workspace"),
        help="folder for local state: metadata.sqlite, pipeline_root/, serving_model/, logs/ "
        "(env KFX_WORKSPACE; default ./workspace)",
    )
    run.add_argument(
        "--pipeline-root",
        default=os.environ.get("KFX_PIPELINE_ROOT"),
        help="artifact folder (env KFX_PIPELINE_ROOT; default <workspace>/pipeline_root)",
    )
    run.add_argument(
        "--metadata-path",
        default=os.environ.get("KFX_METADATA_PATH"),
        help="ML Metadata SQLite file (env KFX_METADATA_PATH; default <workspace>/metadata.sqlite)",
    )
    run.add_argument(
        "--serving-dir",
        default=os.environ.get("KFX_SERVING_DIR"),
        help="base folder of pushed models, <dir>/<model name>/<version>/ "
        "(env KFX_SERVING_DIR; default <workspace>/serving_model)",
    )
    run.add_argument("--train-steps", type=_positive_int, help="maximum training steps; overrides training.train_steps")
    run.add_argument("--no-cache", action="store_true", help="run every component even if its inputs are unchanged")
    run.add_argument(
        "--direct_num_workers",
        type=_positive_int,
        help="Beam DirectRunner workers (1: in memory; more: worker processes); default: one per usable CPU (the "
        f"container's CPU limit) from {cpus.MULTI_PROCESSING_MIN_CPUS} CPUs on, else 1",
    )
    run.add_argument("--verbose", action="store_true", help="show TFX/Beam logs and full tracebacks on the console")
    run.set_defaults(func=_run_local)
    compile_cmd.register(commands)
    submit.register(commands)
    serve.register(commands)
    predict.register(commands)
    lineage_cmd.register(commands)
    monitor_cmd.register(commands)
    report_cmd.register(commands)
    config_cmd.register(commands)
    return parser


def _run_local(args: argparse.Namespace) -> int:
    options = local_run.RunOptions(
        config_path=args.config,
        workspace=local_run.Workspace.under(args.workspace, args.pipeline_root, args.metadata_path, args.serving_dir),
        data_path=args.data,
        span=args.span,
        train_steps=args.train_steps,
        enable_cache=not args.no_cache,
        direct_num_workers=args.direct_num_workers,
        verbose=args.verbose,
    )
    local_run.run(options, sys.stdout)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError) as error:
        _report(f"error: {error}", getattr(args, "verbose", False))  # not every command has --verbose
        return EXIT_BAD_INPUT
    except local_run.RunFailed as error:
        _report(f"error: {error}", args.verbose)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _report("interrupted; completed components are recorded and will be reused by the next run", False)
        return 130
    except BrokenPipeError:
        # The reader went away (`kfx config schema | head`): stop quietly, as Unix tools do; the redirection keeps
        # Python's own flush at exit from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it


def _report(message: str, verbose: bool) -> None:
    if verbose:
        traceback.print_exc()
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
