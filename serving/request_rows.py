"""Rows from a CSV or JSON file, typed for a signature's inputs: what `kfx predict` sends to a model server.

Input columns are matched to the signature's inputs by name, or by their safe name (serving/input_names.py: "mean
radius" feeds the input "mean_radius"); extra columns, such as the label, are ignored. Requests name the signature's
own inputs, so they work on TF Serving itself too. Cells holding one of the missing-value tokens become "missing" as
a serving signature expects them: NaN for numbers, "" for strings.
"""

import csv
import json
import math
import os
import sys
from collections.abc import Collection

import numpy as np

from serving import input_names


class InputError(ValueError):
    """Rows that cannot be sent; the message names the file, the row and the column."""


def read_rows(
    path: str, is_csv: bool, limit: int | None = None, delimiter: str = ",", encoding: str = "utf-8-sig"
) -> list[dict]:
    """The rows of a CSV file with a header (read with `delimiter` and `encoding`), or of a JSON list of objects / TF
    Serving body; '-' reads stdin."""
    if path != "-" and not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        if is_csv:
            handle = sys.stdin if path == "-" else open(path, newline="", encoding=encoding)
            with handle:
                rows = list(csv.DictReader(handle, delimiter=delimiter))
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
    return rows[:limit] if limit else rows


def to_columns(
    rows: list[dict], dtypes: dict, source: str, first_row: int, missing_values: Collection[str]
) -> dict[str, np.ndarray]:
    """Columns typed for the signature, keyed by its inputs; missing values as NaN ("" for strings); bad numbers
    name the row."""
    sources = _source_columns(dtypes, list(rows[0]), source)
    columns = {}
    for name, dtype in dtypes.items():
        values = []
        for offset, row in enumerate(rows):
            value = row.get(sources[name])
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


def _source_columns(inputs: Collection[str], header: list[str], source: str) -> dict[str, str]:
    """Signature input -> the file's column feeding it: the column of that name, else the one whose safe name it is."""
    found, missing = {}, []
    for name in inputs:
        candidates = [name] if name in header else [c for c in header if input_names.safe_name(c) == name]
        if len(candidates) > 1:
            raise InputError(
                f"{source}: columns '{candidates[0]}' and '{candidates[1]}' both feed the signature input '{name}'; "
                "keep one of them"
            )
        if candidates:
            found[name] = candidates[0]
        else:
            missing.append(name)
    if missing:
        raise InputError(f"{source}: no column for the signature inputs {missing} (columns: {sorted(header)})")
    return found
