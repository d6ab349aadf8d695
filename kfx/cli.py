"""The `kfx` command line: each command parses its arguments, calls the package that does the work and prints.

`kfx init` writes a configuration file from a sample of a CSV (profiling); `kfx run` runs the pipeline locally
(runners.local); `kfx compile`, `kfx compile-monitor` and `kfx submit` take it to
Kubeflow (runners.kubeflow); `kfx serve`, `kfx predict`, `kfx promote` and `kfx rollback` serve the pushed model
(serving); `kfx rollout` canaries or shadows a pushed version and promotes or rolls it back (rollout); `kfx runs`,
`kfx models`, `kfx lineage`, `kfx board`, `kfx report` and `kfx monitor` read what the runs recorded (monitoring);
`kfx feedback` stores the outcomes that online quality joins with the served predictions (feedback).
"""

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from kfx import (
    board_cmd,
    compare_cmd,
    compile_cmd,
    config_cmd,
    feedback_cmd,
    init_cmd,
    labels_cmd,
    lineage_cmd,
    models_cmd,
    monitor_cmd,
    options,
    predict_cmd,
    report_cmd,
    rollout_cmd,
    run_cmd,
    runs_cmd,
    serve_cmd,
    submit_cmd,
)
from kfx.secret_args import RedactingArgumentParser
from monitoring.connection import MetadataUnavailable
from pipeline.config import ConfigError
from pipeline.data import DataError
from runners.kubeflow.compile import CompileError
from runners.kubeflow.connection import BackendError, SubmitError
from runners.local.run import RunFailed

COMMANDS = (
    init_cmd, run_cmd, compile_cmd, submit_cmd, serve_cmd, predict_cmd, labels_cmd, rollout_cmd,
    runs_cmd, compare_cmd, models_cmd, lineage_cmd, board_cmd, monitor_cmd, feedback_cmd, report_cmd, config_cmd,
)  # fmt: skip
# Errors a command leaves to this module: each is one line on stderr (a traceback too with --verbose).
FAILED = (RunFailed, BackendError)  # the work started and failed
# nothing ran or was sent (ML Metadata that cannot be opened included: a bad target, password or address)
BAD_INPUT = (ConfigError, DataError, CompileError, SubmitError, MetadataUnavailable)


def build_parser() -> argparse.ArgumentParser:
    """The `kfx` parser with every command; secrets typed by mistake never appear in its usage errors."""
    parser = RedactingArgumentParser(
        prog="kfx", description="The TFX pipeline: run it here, take it to Kubeflow, serve and monitor its model."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns its exit code (0 done, 1 failed, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)  # not every command has --verbose
    try:
        return args.func(args)
    except FAILED as error:
        _report(f"error: {error}", verbose)
        return options.EXIT_FAILED
    except BAD_INPUT as error:
        _report(f"error: {error}", verbose)
        return options.EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _report("interrupted; completed components are recorded and will be reused by the next run", False)
        return options.EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`kfx config schema | head`): stop quietly, as Unix tools do; the redirection keeps
        # Python's own flush at exit from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return options.EXIT_BROKEN_PIPE


def _report(message: str, verbose: bool) -> None:
    if verbose:
        traceback.print_exc()
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
