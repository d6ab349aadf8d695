"""`kfx compare A B`: two runs or two served versions side by side (monitoring.compare)."""

import argparse
import json
import sys

from kfx import options


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx compare`."""
    compare = commands.add_parser(
        "compare",
        help="compare two runs or pushed versions: metrics with CIs, data, config, hyperparameters, code, blessing",
        description="A and B are run ids as `kfx runs` lists them (a unique start of one is enough) or pushed "
        "versions written v:<version> (as `kfx models` lists them). Scores both models on eval rows: when both runs "
        "evaluated the same rows, the difference B - A comes with a paired interval (DeLong's test for AUC); "
        "otherwise each is scored on its own eval rows and the interval is unpaired, and says so. Also shows the "
        "data (spans, fingerprints, rows, the features whose statistics changed most), the configuration diff, the "
        "hyperparameters, the commits between the two and each run's blessing decision.",
    )
    compare.add_argument("a", metavar="A", help="run id (or its unique start) or v:<version>")
    compare.add_argument("b", metavar="B", help="run id (or its unique start) or v:<version>; differences are B - A")
    compare.add_argument("--json", action="store_true", help="print JSON instead of text")
    compare.add_argument("--html", metavar="FILE", help="also write the comparison as a self-contained HTML page")
    compare.add_argument("--slice", action="append", metavar="FEATURE", dest="slices",
                         help="compare per value of this feature (repeatable; default: the features B's Evaluator "
                         "sliced by)")  # fmt: skip
    compare.add_argument(
        "--on-rows-of-b",
        action="store_true",
        help="when the eval rows differ, score A's model on B's eval rows instead of its own: a paired comparison "
        "on B's rows (A may have trained on some of them, e.g. when B's window adds a span)",
    )
    options.add_workspace(compare)
    compare.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Prints the comparison (and writes --html); exit 2 without ML Metadata or when A or B names nothing."""
    options.quiet_tensorflow()
    from monitoring import compare, compare_output, store

    try:
        metadata = options.read_metadata(args)
        logs_dir = options.workspace(args).logs_dir
        found = compare.compare(metadata, logs_dir, args.a, args.b, args.slices, args.on_rows_of_b)
    except (FileNotFoundError, store.MetadataUnavailable, compare.CompareError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    print(json.dumps(found.to_dict(), indent=2) if args.json else compare_output.format_comparison(found))
    if args.html:
        print(f"wrote {compare_output.write_html(found, args.html)}", file=sys.stderr if args.json else sys.stdout)
    return 0
