"""`kfx predict`: score rows from a CSV or JSON file on any TF-Serving-compatible server, over REST or gRPC.

Input columns are matched to the signature's inputs by name, or by their safe name ("mean radius" feeds the input
"mean_radius"; extra columns, such as the label, are ignored); the dtypes come from the server's model metadata, so
the same command works for any model. Cells holding one of the
missing-value tokens (data.missing_values of the configuration, by default pandas' NA strings plus "None", as at
training time) become "missing" as the serving signature expects them: NaN for numbers, "" for strings.
Prints one CSV line per row: the row number, the id of the request that scored it (the server's `x-request-id`) and
each output. Without --version or --label, each request names the model only, so the server routes it (the newest
version, or stable and canary by the routing file of a rollout). With --outcomes, each row's real label (the
configuration's label rule, where the file holds its columns) is written beside its request id, ready for
`kfx feedback`: replaying labelled rows, e.g. a held-out span, through a canary this way is a synthetic outcome stream.
"""

import argparse
import csv
import io
import json
import os
import sys

import numpy as np

from components.window_example_gen import dialect
from kfx import options, serve_cmd
from pipeline.config import MISSING_VALUES, load


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx predict`."""
    sub = commands.add_parser(
        "predict",
        help="score rows from a CSV or JSON file on a running model server (REST or gRPC)",
        description=__doc__.split("\n\n")[1],
    )
    source = sub.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="CSV file with a header row ('-' reads standard input)")
    source.add_argument("--json", help='JSON file: a list of row objects, or a TF Serving body {"instances": [...]}')
    sub.add_argument("--protocol", choices=["rest", "grpc"], default="rest", help="default rest")
    sub.add_argument("--address", help="server HOST:PORT (default localhost:8501 for REST, localhost:8500 for gRPC)")
    sub.add_argument("--model", help="model name (default serving.model_name of the configuration)")
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="score with this version (default: the server's choice for a "
                       "request naming the model only: the newest version, or stable/canary in a rollout)")  # fmt: skip
    which.add_argument("--label", help="score with the version this label points at, e.g. stable or canary")
    sub.add_argument("--signature", default="", help="signature name (default serving_default)")
    sub.add_argument("--limit", type=options.positive_int, help="score only the first N rows")
    sub.add_argument("--batch-size", type=options.positive_int, default=100, help="rows per request (default 100)")
    sub.add_argument("--outcomes", metavar="FILE", help="also write request_id,row,label per scored row with a label "
                     "(the configuration's label rule) to FILE, a CSV `kfx feedback` reads")  # fmt: skip
    serve_cmd.add_project_flags(sub)
    sub.set_defaults(func=run)


def _dialect(csv_path: str | None, config) -> tuple[str, str]:
    """The delimiter and encoding to read --csv with: the configuration's data.delimiter/encoding, detected from the
    file where they say auto (as `kfx run` reads the training data); standard input: as given, else ',' and UTF-8."""
    delimiter = config.data.delimiter if config else dialect.AUTO
    encoding = config.data.encoding if config else dialect.AUTO
    if not csv_path or csv_path == "-" or not os.path.isfile(csv_path):
        return ("," if delimiter == dialect.AUTO else delimiter), (
            "utf-8-sig" if encoding == dialect.AUTO else encoding
        )
    found = dialect.detect(csv_path, delimiter, encoding)
    return found.delimiter, found.encoding


def run(args: argparse.Namespace) -> int:
    """Reads the rows, scores them batch by batch and prints one CSV line per row; exit 2 on bad input."""
    options.quiet_tensorflow()
    import tensorflow as tf

    from serving.client import DEFAULT_PORTS, ClientError, connect
    from serving.request_rows import InputError, read_rows, to_columns

    # The project's configuration, when there is one, says which cells mean missing, as at training time.
    config = load(args.config) if not args.model or os.path.isfile(args.config) else None
    model = args.model or config.serving.model_name
    missing_values = frozenset(config.data.missing_values if config else MISSING_VALUES)
    path = args.csv or args.json
    address = args.address or f"localhost:{DEFAULT_PORTS[args.protocol]}"
    try:
        rows = read_rows(path, bool(args.csv), args.limit, *_dialect(args.csv, config))
        labels = _labels(rows, config, path) if args.outcomes else None
        client = connect(address, args.protocol)
        version, signatures = client.metadata(model, args.version, args.label)
        signature = signatures.get(args.signature or "serving_default")
        if signature is None:
            raise InputError(f"model '{model}' has no signature '{args.signature}' (it has {sorted(signatures)})")
        dtypes = {name: np.dtype(tf.as_dtype(info.dtype).as_numpy_dtype) for name, info in signature.inputs.items()}
        writer = csv.writer(io.TextIOWrapper(sys.stdout.buffer, newline="", write_through=True))
        outcomes = _OutcomeFile(args.outcomes) if args.outcomes else None
        header = None
        for start in range(0, len(rows), args.batch_size):
            batch = rows[start : start + args.batch_size]
            columns = to_columns(batch, dtypes, path, start, missing_values)
            outputs = client.predict(model, columns, args.version, args.label, args.signature)
            if header is None:
                header = sorted(outputs)
                writer.writerow(["row", "request_id", *header])
            for i in range(len(batch)):
                writer.writerow([start + i + 1, client.last_request_id, *[_cell(outputs[name][i]) for name in header]])
                if outcomes and labels[start + i] is not None:
                    outcomes.write(client.last_request_id, i, labels[start + i])
        client.close()
        if outcomes:
            outcomes.close()
    except (InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_FAILED
    chosen = f"version {version}" if args.version or args.label else "the versions the server chose"
    print(f"scored {len(rows)} rows with {model} ({chosen}) over {args.protocol} at {address}", file=sys.stderr)
    if outcomes:
        print(f"wrote {outcomes.count} outcomes to {args.outcomes} (kfx feedback {args.outcomes})", file=sys.stderr)
    return 0


def _labels(rows: list[dict], config, path: str) -> list[bool | None]:
    """Each row's label by the configuration's rule (None where a cell is missing or its value is in neither label
    class); InputError without its columns."""
    from pipeline import data as data_lib
    from serving.request_rows import InputError

    if config is None:
        raise InputError("--outcomes needs the configuration's label rule: pass --config")
    rules = data_lib.rules_of(config)
    needed = [column for column in rules.label.columns if rows and column not in rows[0]]
    if needed:
        raise InputError(f"{path}: --outcomes needs the label's columns {needed} in the rows")
    header = list(rows[0]) if rows else []
    labels = rules.labels(header, [(i, [str(row.get(c, "")) for c in header]) for i, row in enumerate(rows)])
    return [label if isinstance(label, bool) else None for label in labels]  # a value in neither class: no outcome


class _OutcomeFile:
    """request_id,row,label lines for `kfx feedback` (row: the row's place in its request)."""

    def __init__(self, path: str):
        self._file = open(path, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["request_id", "row", "label"])
        self.count = 0

    def write(self, request_id: str, row: int, label: bool) -> None:
        self._writer.writerow([request_id, row, int(label)])
        self.count += 1

    def close(self) -> None:
        self._file.close()


def _cell(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist())
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)
