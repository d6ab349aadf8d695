"""Where the input CSVs are and whether they can be read at all, checked before any pipeline work starts.

Layouts, for `data.path` (or `kfx run --data`):
- a single CSV file;
- a folder of CSV files (all read together);
- a folder of numbered spans `span-1/`, `span-2/`, ... each holding CSV files: ExampleGen reads the highest span.

The checks here are the cheap, structural ones whose failure would otherwise surface as a Beam stack trace
(missing files, empty files, missing columns, rows with the wrong number of fields). Types, domains and ranges are
ExampleValidator's job, against the schema.
"""

import csv
import dataclasses
import os
import re
from collections.abc import Iterable, Sequence

SPAN_DIR = re.compile(r"^span-(\d+)$")
SPAN_PATTERN = "span-{SPAN}/*.csv"
_MAX_REPORTED_ROWS = 5


class DataError(ValueError):
    """The input data cannot be used; the message names the file and what to do."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """What CsvExampleGen gets: a base directory and a file pattern relative to it."""

    input_base: str
    pattern: str
    files: tuple[str, ...]
    span: int | None = None


def locate(path: str) -> DataSource:
    """Resolves a data path (file, folder of CSVs, or folder of spans) into ExampleGen's input."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DataError(f"data path '{path}' does not exist; set data.path in the config or pass --data")
    if os.path.isfile(path):
        if not path.endswith(".csv"):
            raise DataError(f"data file '{path}' is not a .csv file")
        return DataSource(os.path.dirname(path), os.path.basename(path), (path,))
    spans = {
        int(match.group(1)): entry
        for entry in os.listdir(path)
        if (match := SPAN_DIR.match(entry)) and os.path.isdir(os.path.join(path, entry))
    }
    if spans:
        span = max(spans)
        folder = os.path.join(path, spans[span])
        files = _csv_files(folder)
        if not files:
            raise DataError(f"span folder '{folder}' has no .csv files; the highest span is the one that is read")
        return DataSource(path, SPAN_PATTERN, files, span)
    files = _csv_files(path)
    if not files:
        raise DataError(f"data folder '{path}' has no .csv files and no span-<N>/ folders")
    return DataSource(path, "*.csv", files)


def check_csv_files(files: Sequence[str], required_columns: Iterable[str]) -> int:
    """Checks every file has one header with all required columns and well-formed rows; returns the row count."""
    required = list(required_columns)
    first_header: list[str] | None = None
    rows = 0
    for file in files:
        header, file_rows = _check_csv_file(file, required)
        if first_header is not None and header != first_header:
            raise DataError(f"'{file}' has a different header than '{files[0]}'; all files must have the same one")
        first_header = header
        rows += file_rows
    return rows


def _check_csv_file(file: str, required: list[str]) -> tuple[list[str], int]:
    if os.path.getsize(file) == 0:
        raise DataError(f"'{file}' is empty; it needs a header row and data rows")
    with open(file, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(
                    f"'{file}' is missing column(s) {', '.join(repr(c) for c in missing)} that the config uses "
                    f"(features or label); its header is: {', '.join(header)}"
                )
            duplicated = sorted({c for c in header if header.count(c) > 1})
            if duplicated:
                raise DataError(f"'{file}' repeats column(s) {duplicated} in its header")
            bad_rows, rows = [], 0
            for record in reader:
                rows += 1
                if len(record) != len(header) and len(bad_rows) < _MAX_REPORTED_ROWS:
                    bad_rows.append(f"line {reader.line_num} has {len(record)} fields")
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"'{file}' is not a readable UTF-8 CSV file: {e}") from None
    if bad_rows:
        raise DataError(
            f"'{file}' has malformed rows (the header has {len(header)} fields): {'; '.join(bad_rows)}; "
            "fix or remove those rows"
        )
    if rows == 0:
        raise DataError(f"'{file}' has a header but no data rows")
    return header, rows


def _csv_files(folder: str) -> tuple[str, ...]:
    return tuple(
        sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".csv") and not f.startswith("."))
    )
