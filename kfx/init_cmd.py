"""`kfx init DATA --label COLUMN[=V1,V2|>X]`: a configuration file written from a sample of the data (profiling)."""

import argparse
import os
import re
import sys

import yaml

from kfx import options
from pipeline import config as config_lib
from profiling import sample as sample_lib

_RULE = re.compile(r"^(?P<column>.+?)(?:(?P<op>[=>])(?P<values>.*))?$", re.DOTALL)


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx init`."""
    init = commands.add_parser(
        "init",
        help="write a configuration file for a CSV from a sample of it",
        description="Reads a bounded sample of DATA (delimiter, encoding and header detected), gives every column a "
        "role (numeric, bucketized, categorical, or left out with the reason), trains a quick gradient-boosted "
        "baseline for the AUC threshold, and writes a commented configuration that `kfx run --config` runs as is.",
    )
    init.add_argument("data", metavar="DATA", help="a CSV file, a folder of CSVs or a folder of span-<N>/ folders")
    init.add_argument(
        "--label",
        required=True,
        metavar="COLUMN[=V1,V2|>X]",
        help="the label column; =V1,V2: its positive values; >X: positive above X; alone: a column of two values "
        "(the one reading as yes, else the rarer, is positive)",
    )
    init.add_argument("--negative", metavar="V1,V2", help="with COLUMN=V1,V2: the negative values; others left out")
    init.add_argument("--output", help="the file to write (default: <data name>.yaml in the current folder)")
    init.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    options.add_sample_rows(init, sample_lib.DEFAULT_ROWS, "")
    init.set_defaults(func=_init)


def parse_label(text: str) -> tuple[str, tuple[str, ...], float | None]:
    """`COLUMN`, `COLUMN=V1,V2` or `COLUMN>X` -> (column, positive values, greater_than)."""
    match = _RULE.match(text)
    column, op, values = match["column"], match["op"], match["values"]
    if op == ">":
        try:
            return column, (), float(values)
        except ValueError:
            raise config_lib.ConfigError(f"--label {text!r}: '{values}' is not a number; write COLUMN>X") from None
    positive = tuple(v.strip() for v in values.split(",")) if op == "=" else ()
    if op == "=" and not all(positive):
        raise config_lib.ConfigError(f"--label {text!r}: name the positive values, e.g. {column}=yes")
    return column, positive, None


def _init(args: argparse.Namespace) -> int:
    column, positive, greater_than = parse_label(args.label)
    negative = tuple(v.strip() for v in args.negative.split(",")) if args.negative else ()
    output = args.output or os.path.splitext(os.path.basename(os.path.abspath(args.data)))[0] + ".yaml"
    if os.path.exists(output) and not args.force:
        raise config_lib.ConfigError(f"'{output}' exists; pass --force to overwrite it, or --output another file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise config_lib.ConfigError(f"--output '{output}': its folder does not exist; create it first")
    options.quiet_tensorflow()
    from profiling import proposal as proposal_lib  # noqa: PLC0415 (imports TFDV and TensorFlow)
    from profiling import writer  # noqa: PLC0415

    found = proposal_lib.propose(args.data, column, positive, negative, greater_than, args.sample_rows)
    text = writer.config_text(found, output)
    config_lib.parse(yaml.safe_load(text), output)  # never write a file `kfx run` would refuse
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    for line in found.decisions():
        print(line)
    print(f"wrote {output}; next: kfx config check --data --config {output}, then kfx run --config {output}")
    sys.stdout.flush()
    return 0
