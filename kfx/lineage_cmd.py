"""`kfx lineage`: where a served version came from (monitoring.lineage)."""

import argparse
import json
import sys

from kfx import options


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx lineage`."""
    lineage = commands.add_parser(
        "lineage",
        help="show where a pushed version came from (runs, artifacts, spans, files, commit)",
        description="Walks ML Metadata from the push of a version back through Evaluator (metrics, blessing, "
        "baseline), Trainer, Transform, schema, validation and drift checks to the spans, files and fingerprint "
        "ExampleGen read, with run ids, artifact URIs, times and the git commit of each run.",
    )
    lineage.add_argument("--version", help="pushed version (default: the newest)")
    lineage.add_argument("--json", action="store_true", help="print JSON instead of text")
    options.add_workspace(lineage)
    lineage.set_defaults(func=run_lineage)


def run_lineage(args: argparse.Namespace) -> int:
    """Prints the lineage of the version; exit 2 when there is no workspace or no such version."""
    options.quiet_tensorflow()
    from monitoring import lineage, store

    try:
        found = lineage.served_lineage(options.read_metadata(args), args.version)
    except (FileNotFoundError, store.MetadataUnavailable, lineage.LineageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    print(json.dumps(found.to_dict(), indent=2, default=str) if args.json else lineage.format_lineage(found))
    return 0
