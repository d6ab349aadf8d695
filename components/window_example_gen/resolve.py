"""The Kubeflow task that resolves the window when the pipeline runs, before WindowExampleGen.

`python -m components.window_example_gen.resolve --data-path gs://b/data --window 4 --pipeline-name P
--metadata grpc://metadata-grpc-service.kubeflow:8080 --output-file F --acceptance-file A` writes WindowExampleGen's
`custom_config` for this run: the data path, the window, the newest span found now, the earlier spans the drift
check rejected (left out) and the reference span, read from the verdicts in KFP's ML Metadata, and a fingerprint of
the window's files; and DriftGate's `acceptance` (`--accept-drift WHO`: accept the newest span's drift, recorded as
by WHO; or an acceptance already recorded for the same files). KFP's cache key includes input parameter values, so
WindowExampleGen (and all that follows) is reused when nothing changed, and runs again when a span or a verdict did.
This task is never cached.
"""

import argparse
import os
import sys

from google.protobuf import json_format
from ml_metadata import errors as mlmd_errors

from components.drift_gate import ledger as ledger_lib
from components.window_example_gen import executor
from components.window_example_gen import window as window_lib


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--pipeline-name", required=True, help="whose drift verdicts apply")
    parser.add_argument("--metadata", required=True, help="grpc://HOST:PORT of KFP's ML Metadata, or a SQLite file")
    parser.add_argument("--accept-drift", default="", help="accept the newest span's drift, recorded as by this")
    parser.add_argument("--output-file", required=True, help="KFP output parameter file: custom_config")
    parser.add_argument("--acceptance-file", required=True, help="KFP output parameter file: DriftGate's acceptance")
    args = parser.parse_args(argv)
    try:
        ledger = ledger_lib.read(ledger_lib.connect(args.metadata), args.pipeline_name)
        accept = "" if args.accept_drift else None
        window, plan = ledger_lib.resolve_window(
            args.data_path, args.window, None, ledger, accept, accepted_by=args.accept_drift
        )
    except window_lib.WindowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except mlmd_errors.StatusError as error:
        print(f"error: cannot read the drift verdicts in ML Metadata at {args.metadata}: {error}", file=sys.stderr)
        return 1
    settings = {
        executor.DATA_PATH_KEY: args.data_path,
        executor.WINDOW_KEY: args.window,
        executor.SPAN_KEY: window.newest,
        executor.EXCLUDED_KEY: list(plan.excluded),
        executor.REFERENCE_KEY: plan.reference,
        "resolved_spans": list(window.spans),
        "fingerprint": window.fingerprint(),
    }
    _write(args.output_file, json_format.MessageToJson(executor.custom_config(settings), sort_keys=True))
    _write(args.acceptance_file, ledger_lib.acceptance_parameter(plan.acceptance))
    left_out = f"; rejected, left out: {list(plan.excluded)}" if plan.excluded else ""
    accepted = f"; accepting its drift, as by {plan.acceptance.by}" if plan.acceptance else ""
    print(
        f"window: spans {list(window.spans)} of {list(window.available)} under {args.data_path}; drift reference: "
        f"span {window.previous}{left_out}{accepted}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
