"""`kfx config schema` prints the configuration file's JSON Schema, for editors; `kfx config check` validates a file
and prints what it resolves to, without starting a run; with --data it also checks the file against a sample of the
data (profiling.findings)."""

import argparse
import json
import os
import sys

from kfx import options
from pipeline import config as config_lib
from profiling import sample as sample_lib


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx config schema` and `kfx config check`."""
    config = commands.add_parser(
        "config",
        help="the configuration file: print its JSON Schema, or check one",
        description="The JSON Schema lets an editor's YAML language server complete and check the file as you type "
        "(configs/config.schema.json is the same schema, kept up to date by the tests).",
    )
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("schema", help="print the JSON Schema of the configuration file").set_defaults(func=_schema)
    check = actions.add_parser("check", help="validate a configuration file and print its resolved paths")
    options.add_config(check)
    check.add_argument(
        "--data",
        action="store_true",
        help="also read a bounded sample of the data and report, one line each, what the config and the data disagree "
        "on (columns, label values, empty or mixed columns, the schema, thresholds, slices); exit 2 if anything",
    )
    options.add_sample_rows(check, sample_lib.DEFAULT_ROWS, " with --data")
    check.set_defaults(func=_check)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_lib.json_schema(), indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Prints the resolved configuration; a ConfigError (one line, exit 2 in kfx.cli) when it or a path is wrong."""
    config = config_lib.load(args.config)
    for key, path in (("data.path", config.data.path), ("data.schema", config.data.schema)):
        if path and not os.path.exists(path):
            raise config_lib.ConfigError(
                f"{config.path}: {key} '{path}' does not exist; fix it (relative paths start at the file's folder)"
            )
    label = config.features.label
    if label.greater_than is not None:
        rule = f"{label.column} > {label.greater_than}" + (f" x {label.times}" if label.times else "")
    else:
        rule = f"{label.column} in {list(label.one_of)}" + (" (case folded)" if label.fold_case else "")
        if label.negative:
            rule += f", negative {list(label.negative)}, other values: {label.other}"
    print(
        f"{config.path}: valid\n"
        f"  pipeline_name  {config.pipeline_name}\n"
        f"  data.path      {config.data.path} (latest {config.data.window} span(s))\n"
        f"  data.schema    {config.data.schema or '(none: the schema inferred from the data)'}\n"
        f"  label          {label.name} = {rule}\n"
        f"  features       {len(config.features.raw_features)} columns\n"
        f"  serving        <serving dir>/{config.serving.model_name}/<version>/"
    )
    return _check_data(config, args.sample_rows) if args.data else 0


def _check_data(config: config_lib.PipelineConfig, sample_rows: int) -> int:
    """Prints the data's findings, one line each on stderr (exit 2), or the sample's size and label counts."""
    from profiling import findings  # noqa: PLC0415 (pandas and scikit-learn: only with --data)

    sys.stdout.flush()
    report = findings.check(config, sample_rows)
    for finding in report.findings:
        print(f"error: {config.path}: {finding}", file=sys.stderr)
    if report.findings:
        return options.EXIT_BAD_INPUT
    print(f"data: {report.rows:,} rows sampled, no findings\n  {report.label_counts}")
    return 0
