"""Where the input CSVs are and whether they can be read at all, checked before any pipeline work starts.

Layouts, for `data.path` (or `kfx run --data`):
- a folder of numbered spans `span-1/`, `span-2/`, ... each holding CSV files: the run reads the latest
  `data.window` spans up to the newest (or up to `kfx run --span K`), and compares the newest with the one before;
- a folder of CSV files (all read together), or a single CSV file: one span, no drift check.

The checks here are the cheap, structural ones whose failure would otherwise surface as a Beam stack trace
(missing files, empty files, missing columns, rows with the wrong number of fields). Types, domains and ranges are
ExampleValidator's job, against the schema. ExampleGen resolves the window again when it runs (on Kubeflow that is
the only place it is resolved).
"""

import csv
import dataclasses
import os
from collections.abc import Iterable, Sequence

from components.window_example_gen import window as window_lib

SPANS_PATTERN = "span-*/*.csv"
_MAX_REPORTED_ROWS = 5


class DataError(ValueError):
    """The input data cannot be used; the message names the file and what to do."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """What the run reads: the data path, the window of spans, and the files TFX's local driver fingerprints."""

    data_path: str
    input_base: str
    pattern: str
    window: window_lib.Window

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(path for span in sorted(self.window.files) for path in self.window.files[span])

    @property
    def has_spans(self) -> bool:
        return self.window.available != (0,)


def locate(path: str, window: int = 1, span: int | None = None) -> DataSource:
    """Resolves a data path (folder of spans, folder of CSVs, or one file) and the window of spans to read."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DataError(f"data path '{path}' does not exist; set data.path in the config or pass --data")
    if os.path.isfile(path) and not path.endswith(".csv"):
        raise DataError(f"data file '{path}' is not a .csv file")
    try:
        resolved = window_lib.resolve(path, window, span)
    except window_lib.WindowError as error:
        raise DataError(str(error)) from None
    if os.path.isfile(path):
        return DataSource(path, os.path.dirname(path), os.path.basename(path), resolved)
    pattern = SPANS_PATTERN if resolved.available != (0,) else "*.csv"
    return DataSource(path, path, pattern, resolved)


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
