"""`kfx predict`: score rows from a CSV or JSON file on any TF-Serving-compatible server, over REST or gRPC.

Input columns are matched to the signature's inputs by name (extra columns, such as the label, are ignored); the
dtypes come from the server's model metadata, so the same command works for any model. Cells holding one of the
missing-value tokens (data.missing_values of the configuration, by default pandas' own, as at training time) become
"missing" as the serving signature expects them: NaN for numbers, "" for strings.
Prints one CSV line per row: the row number and each output.
"""

import argparse
import csv
import io
import json
import math
import os
import sys
from collections.abc import Collection

import numpy as np

from kfx.defaults import EXIT_BAD_INPUT, EXIT_FAILED
from kfx.serve import add_project_flags
from pipeline.config import MISSING_VALUES


class InputError(ValueError):
    """Rows that cannot be sent; the message names the file, the row and the column."""


def register(commands: argparse._SubParsersAction) -> None:
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
    which.add_argument("--version", type=int, help="score with this version (default: the newest served)")
    which.add_argument("--label", help="score with the version this label points at, e.g. stable or canary")
    sub.add_argument("--signature", default="", help="signature name (default serving_default)")
    sub.add_argument("--limit", type=int, help="score only the first N rows")
    sub.add_argument("--batch-size", type=int, default=100, help="rows per request (default 100)")
    add_project_flags(sub)
    sub.set_defaults(func=run)


def read_rows(args: argparse.Namespace) -> list[dict]:
    path = args.csv or args.json
    if path != "-" and not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        if args.csv:
            handle = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8-sig")
            with handle:
                rows = list(csv.DictReader(handle))
        else:
            with sys.stdin if path == "-" else open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            rows = document.get("instances") if isinstance(document, dict) else document
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise InputError(f'{path}: expected a list of row objects or {{"instances": [...]}}')
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise InputError(f"{path}: cannot be read: {error}") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows[: args.limit] if args.limit else rows


def to_columns(
    rows: list[dict], dtypes: dict, source: str, first_row: int, missing_values: Collection[str] = MISSING_VALUES
) -> dict[str, np.ndarray]:
    """Columns typed for the signature; missing values as NaN ("" for strings); bad numbers name the row."""
    missing = [name for name in dtypes if name not in rows[0]]
    if missing:
        raise InputError(f"{source}: no column for the signature inputs {missing} (columns: {sorted(rows[0])})")
    columns = {}
    for name, dtype in dtypes.items():
        values = []
        for offset, row in enumerate(rows):
            value = row.get(name)
            blank = value is None or (isinstance(value, str) and value in missing_values)
            if dtype.kind == "O":
                values.append(b"" if blank else str(value).encode())
                continue
            if blank:
                values.append(math.nan)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or (dtype.kind in "iu" and not number.is_integer()):
                kind = "a whole number" if dtype.kind in "iu" else "a number"
                raise InputError(f"{source}: row {first_row + offset + 1}, column '{name}': '{value}' is not {kind}")
            values.append(number)
        columns[name] = np.array(values, dtype=dtype)
    return columns


def run(args: argparse.Namespace) -> int:
    from serving.launch import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from pipeline.config import ConfigError, load
    from serving.client import DEFAULT_PORTS, ClientError, connect

    try:
        # The project's configuration, when there is one, says which cells mean missing, as at training time.
        config = load(args.config) if not args.model or os.path.isfile(args.config) else None
        model = args.model or config.serving.model_name
        missing_values = frozenset(config.data.missing_values if config else MISSING_VALUES)
        rows = read_rows(args)
        if args.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
    except (ConfigError, InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    address = args.address or f"localhost:{DEFAULT_PORTS[args.protocol]}"
    try:
        client = connect(address, args.protocol)
        version, signatures = client.metadata(model, args.version, args.label)
        signature = signatures.get(args.signature or "serving_default")
        if signature is None:
            raise InputError(f"model '{model}' has no signature '{args.signature}' (it has {sorted(signatures)})")
        dtypes = {name: np.dtype(tf.as_dtype(info.dtype).as_numpy_dtype) for name, info in signature.inputs.items()}
        out = io.TextIOWrapper(sys.stdout.buffer, newline="", write_through=True)
        writer = csv.writer(out)
        header = None
        for start in range(0, len(rows), args.batch_size):
            batch = rows[start : start + args.batch_size]
            columns = to_columns(batch, dtypes, args.csv or args.json, start, missing_values)
            outputs = client.predict(model, columns, version=version, signature=args.signature)
            if header is None:
                header = sorted(outputs)
                writer.writerow(["row", *header])
            for i in range(len(batch)):
                writer.writerow([start + i + 1, *[_cell(outputs[name][i]) for name in header]])
        client.close()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"scored {len(rows)} rows with {model} version {version} over {args.protocol} at {address}", file=sys.stderr)
    return 0


def _cell(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist())
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)
