"""`kfx report`: writes the self-contained HTML report of a pipeline run (default: the latest) in the workspace."""

import argparse
import os
import sys

from kfx.defaults import DEFAULT_CONFIG, EXIT_BAD_INPUT, add_workspace_flags, metadata_path, quiet_tensorflow
from pipeline import config as config_lib


def default_output(workspace: str, run_id: str) -> str:
    """<workspace>/reports/run-<run id>.html, with ':' and '.' of the run id replaced to suit every file system."""
    safe_id = run_id.replace(":", "-").replace(".", "-")
    return os.path.join(os.path.abspath(workspace), "reports", f"run-{safe_id}.html")


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx report`."""
    report = commands.add_parser(
        "report",
        help="write the HTML report of a pipeline run (viewable offline)",
        description="Renders one run (default: the latest) from ML Metadata and its artifacts: node states, data "
        "statistics and anomalies, drift, evaluation per slice against the served model, the blessing and why, "
        "and the lineage of the pushed version. The file is self-contained: it loads nothing from the network.",
    )
    report.add_argument("--run", help="run id, as printed by `kfx run` (default: the latest run)")
    add_workspace_flags(report)
    report.add_argument(
        "--config",
        default=os.environ.get("KFX_CONFIG", DEFAULT_CONFIG),
        help=f"pipeline configuration, for the pipeline name (env KFX_CONFIG; default {DEFAULT_CONFIG})",
    )
    report.add_argument("--output", help="HTML file to write (default <workspace>/reports/run-<run id>.html)")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Writes the report and prints its path; a missing workspace or unknown run is one line on stderr, exit 2."""
    pipeline_name = config_lib.load(args.config).pipeline_name
    try:
        metadata = metadata_path(args)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    quiet_tensorflow()
    from monitoring import report as report_lib

    try:
        run_id = report_lib.find_run_id(metadata, pipeline_name, args.run)
        output = args.output or default_output(args.workspace, run_id)
        path = report_lib.write_report(metadata, pipeline_name, output, run_id)
    except report_lib.ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(path)
    return 0
