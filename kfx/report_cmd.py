"""`kfx report`: writes the self-contained HTML report of a pipeline run (default: the latest) in the workspace."""

import argparse
import sys

from kfx import options
from pipeline import config as config_lib


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx report`."""
    report = commands.add_parser(
        "report",
        help="write the HTML report of a pipeline run (viewable offline)",
        description="Renders one run (default: the latest) from ML Metadata and its artifacts: node states, data "
        "statistics and anomalies, drift, evaluation per slice against the served model, the blessing and why, "
        "and the lineage of the pushed version. The file is self-contained: it loads nothing from the network.",
    )
    report.add_argument(
        "--run", help="run id, as printed by `kfx run` or listed by `kfx runs` (default: the latest run)"
    )
    options.add_workspace(report)
    options.add_config(report, "for the pipeline name")
    report.add_argument("--output", help="HTML file to write (default <workspace>/reports/run-<run id>.html)")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Writes the report and prints its path; a missing workspace or unknown run is one line on stderr, exit 2."""
    pipeline_name = config_lib.load(args.config).pipeline_name
    options.quiet_tensorflow()
    from monitoring import report as report_lib

    try:
        workspace = options.workspace(args)
        metadata = workspace.recorded_metadata()
        run_id = report_lib.find_run_id(metadata, pipeline_name, args.run)
        output = args.output or workspace.report_path(run_id)
        path = report_lib.write_report(metadata, pipeline_name, output, run_id)
    except (FileNotFoundError, report_lib.ReportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    print(path)
    return 0
