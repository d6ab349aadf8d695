"""`kfx feedback`: outcomes that arrived after the predictions, into the workspace's outcome store.

Each file is CSV (with a header) or JSON lines with `request_id` (the x-request-id the server answered with), `label`
(0/1 or true/false), optional `row` (default 0) and optional `time` (ISO 8601 or seconds since the epoch). Sending an
outcome again is harmless: it is counted once; sent again with another label it is a conflict and the first label is
kept. Exit code 0: stored; 1: some rows broke a rule (listed on stderr, the others stored); 2: a file cannot be read
(nothing stored) or the request logs or the store cannot be used.
"""

import argparse
import os
import sys

from kfx import options

MAX_LISTED = 20  # bad rows printed; the count says how many more


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx feedback`."""
    feedback = commands.add_parser(
        "feedback",
        help="store outcomes (request id, label) of served predictions for online quality",
        description=" ".join(__doc__.split("\n\n")[1:2]),
    )
    feedback.add_argument("files", nargs="+", metavar="FILE", help="CSV or JSON lines (.jsonl) outcome files")
    feedback.add_argument(
        "--logs",
        help="request logs (folder or filename_prefix) to check the ids against: outcomes no logged request had are "
        "counted as unknown (and stored, as their requests may be in logs not given or not sampled)",
    )
    feedback.add_argument(
        "--workspace",
        default=os.environ.get("KFX_WORKSPACE", "workspace"),
        help="the store is <workspace>/feedback/outcomes.sqlite (env KFX_WORKSPACE; default ./workspace)",
    )
    feedback.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ingests the files, prints what was new, repeated, conflicting, unknown and bad; returns the exit code."""
    options.quiet_tensorflow()
    from feedback import ingest, store
    from monitoring.request_logs import LogError

    try:
        result = ingest.ingest(args.files, store.path(args.workspace), logs=args.logs)
    except (ingest.FeedbackError, LogError, store.StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    print(f"read {result.read} outcomes from {len(result.files)} file(s) into {result.store}")
    print(f"new: {result.new}")
    print(f"repeated: {result.repeated} (stored before with the same label)")
    conflicts = ", ".join(
        f"{c.request_id} row {c.row} (kept {c.kept_label}, {c.source} said {c.refused_label})"
        for c in result.conflicts[:MAX_LISTED]
    )
    print(f"conflicts: {len(result.conflicts)}" + (f" (stored with another label, the first kept): {conflicts}"
                                                   if result.conflicts else ""))  # fmt: skip
    if result.logs is None:
        print("unknown ids: not checked (give --logs)")
    else:
        examples = f", e.g. {', '.join(result.unknown_ids)}" if result.unknown_ids else ""
        print(f"unknown ids: {result.unknown} of {result.read} in no request logged in {result.logs}{examples}")
    print(f"bad rows: {len(result.bad)}" + (" (not stored, listed on stderr)" if result.bad else ""))
    for bad in result.bad[:MAX_LISTED]:
        print(f"  {bad}", file=sys.stderr)
    if len(result.bad) > MAX_LISTED:
        print(f"  ... and {len(result.bad) - MAX_LISTED} more", file=sys.stderr)
    return options.EXIT_FAILED if result.bad else 0
