"""A bounded sample of a CSV data path: at most N rows, spread over its files, every cell kept as text.

The data path is what `data.path` accepts: one CSV file, a folder of CSV files, or a folder of `span-<N>/` folders.
The delimiter and encoding are detected on the first file (components/window_example_gen/dialect.py, as the run
does) unless given; the first row must be a header. Cells equal to one of the missing-value tokens are missing (NaN),
every other cell stays the exact text of the file, so profiling sees what the run will see.
"""

import csv
import dataclasses
import glob
import io
import math
import os

import pandas as pd

from components.window_example_gen import dialect as dialect_lib
from components.window_example_gen import rows as rows_lib
from pipeline import data as data_lib
from pipeline.config import MISSING_VALUES

DEFAULT_ROWS = 20_000
_COUNT_BYTES = 64 * 2**20  # rows of a file are counted in its first 64 MiB, and extrapolated by size past them


@dataclasses.dataclass(frozen=True)
class Sample:
    """Rows read from the data path, the files they came from and how they were read."""

    data_path: str
    files: tuple[str, ...]
    frame: pd.DataFrame  # one column per header name, text cells, NaN where missing
    total_rows: int  # rows in all files (counted, or estimated from the size of very large files)
    dialect: dialect_lib.Dialect  # delimiter and encoding, as given or detected on the first file
    spans: int  # numbered span folders found (0: a file or a folder of CSVs)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def scale(self) -> float:
        """How many rows of the data each sampled row stands for."""
        return self.total_rows / max(len(self.frame), 1)


def data_files(path: str) -> tuple[tuple[str, ...], int]:
    """The CSV files under a data path (sorted, spans in number order) and the number of span folders."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise data_lib.DataError(f"data path '{path}' does not exist; pass a CSV file or a folder of CSV files")
    if os.path.isfile(path):
        if not path.endswith(".csv"):
            raise data_lib.DataError(f"data file '{path}' is not a .csv file; the run reads only .csv files")
        return (path,), 0
    folders = glob.glob(os.path.join(path, os.path.dirname(data_lib.SPANS_PATTERN)))
    spans = sorted((folder for folder in folders if _span_number(folder) is not None), key=_span_number)
    files = [f for folder in spans for f in sorted(glob.glob(os.path.join(folder, "*.csv")))]
    if not spans:
        files = sorted(glob.glob(os.path.join(path, "*.csv")))
    if not files:
        raise data_lib.DataError(f"'{path}' holds no .csv files (nor span-<N>/ folders of them)")
    return tuple(files), len(spans)


def read(
    path: str,
    max_rows: int = DEFAULT_ROWS,
    missing_values: tuple[str, ...] = MISSING_VALUES,
    delimiter: str = dialect_lib.AUTO,
    encoding: str = dialect_lib.AUTO,
) -> Sample:
    """Reads at most `max_rows` rows of the data path, an equal share from the start of each file."""
    files, spans = data_files(path)
    found = dialect_lib.detect(files[0], delimiter, encoding)
    delimiter, encoding = found.delimiter, found.encoding
    share = math.ceil(max_rows / len(files))
    frames, total, header = [], 0, None
    for file in files:
        file_header = _header(file, delimiter, encoding)
        if header is not None and file_header != header:
            raise data_lib.DataError(f"'{file}' has a different header than '{files[0]}'; all files need the same one")
        header = file_header
        frame = _read_rows(file, header, share, delimiter, encoding, missing_values)
        frames.append(frame)
        total += len(frame) if len(frame) < share else _count_rows(file, encoding, delimiter)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise data_lib.DataError(f"'{path}' has a header but no data rows")
    return Sample(
        data_path=os.path.abspath(path),
        files=files,
        frame=frame,
        total_rows=total,
        dialect=found,
        spans=spans,
    )


def _span_number(folder: str) -> int | None:
    number = os.path.basename(folder).removeprefix("span-")
    return int(number) if number.isdigit() and os.path.isdir(folder) else None


def _header(file: str, delimiter: str, encoding: str) -> list[str]:
    """The first row, which must name the columns: not empty, no name twice, not a row of numbers."""
    if os.path.getsize(file) == 0:
        raise data_lib.DataError(f"'{file}' is empty; it needs a header row and data rows")
    try:
        with open(file, newline="", encoding=encoding) as f:
            header = next(csv.reader(f, delimiter=delimiter), [])
    except (UnicodeDecodeError, csv.Error) as error:
        raise data_lib.DataError(f"'{file}' cannot be read as {encoding} CSV: {error}") from None
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise data_lib.DataError(f"'{file}' repeats column(s) {duplicated} in its header; rename them")
    if "" in header:
        raise data_lib.DataError(f"'{file}' has a column without a name (column {header.index('') + 1}); name it")
    if all(rows_lib.parse_number(name) is not None for name in header):
        raise data_lib.DataError(
            f"the first row of '{file}' is all numbers ({', '.join(header[:5])}...), not a header; add a header row "
            "naming the columns"
        )
    return header


def _read_rows(
    file: str, header: list[str], rows: int, delimiter: str, encoding: str, missing_values: tuple[str, ...]
) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            file,
            sep=delimiter,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            na_values=list(missing_values),
            nrows=rows,
            header=0,
            names=header,
            skip_blank_lines=True,
            engine="c",
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        problem = str(error).strip().splitlines()[-1]
        raise data_lib.DataError(f"'{file}' cannot be read as CSV ({delimiter!r}-separated): {problem}") from None
    return frame


def _count_rows(file: str, encoding: str, delimiter: str) -> int:
    """Data rows of a file: records counted in its first 64 MiB, extrapolated by size past them."""
    size = os.path.getsize(file)
    with open(file, "rb") as f:
        head = f.read(_COUNT_BYTES)
    if len(head) < size:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    text = head.decode(encoding, errors="replace")
    records = sum(1 for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if cells) - 1
    return records if len(head) >= size else int(records * size / max(len(head), 1))
