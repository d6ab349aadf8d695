"""Where the input CSVs are and whether they can be read at all, checked before any pipeline work starts.

Layouts, for `data.path` (or `kfx run --data`):
- a folder of numbered spans `span-1/`, `span-2/`, ... each holding CSV files: the run reads the latest
  `data.window` spans up to the newest (or up to `kfx run --span K`), and compares the newest with the one before;
- a folder of CSV files (all read together), or a single CSV file: one span, no drift check.

The checks here are the cheap ones whose failure would otherwise surface as a Beam stack trace or a model trained
on nothing: missing files, empty files, missing columns, rows with the wrong number of fields, text in a numeric
column, too many rows without a label, a label with too few rows of a class. Domains and ranges are
ExampleValidator's job, against the schema. ExampleGen resolves the window and applies the same row rules
(components/window_example_gen/rows.py) again when it runs; on Kubeflow that is the only place.
"""

import csv
import dataclasses
import itertools
import os
from collections.abc import Iterable, Sequence

from components.drift_gate import ledger as ledger_lib
from components.window_example_gen import checks
from components.window_example_gen import dialect as dialect_lib
from components.window_example_gen import rows as rows_lib
from components.window_example_gen import window as window_lib
from pipeline.config import PipelineConfig

SPANS_PATTERN = "span-*/*.csv"
_MAX_REPORTED_ROWS = 5
_BATCH_ROWS = 4096  # rows checked at once (each distinct cell of a numeric column once per batch)


class DataError(ValueError):
    """The input data cannot be used; the message names the file and what to do."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """What the run reads: the data path, the window of spans, and the files TFX's local driver fingerprints."""

    data_path: str
    input_base: str
    pattern: str
    window: window_lib.Window
    drift_plan: ledger_lib.Plan = ledger_lib.Plan()  # from the drift verdicts: spans left out, reference, acceptance

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(path for span in sorted(self.window.files) for path in self.window.files[span])

    @property
    def has_spans(self) -> bool:
        return self.window.available != (0,)


def locate(
    path: str,
    window: int = 1,
    span: int | None = None,
    ledger: ledger_lib.Ledger | None = None,
    accept_drift: str | None = None,
) -> DataSource:
    """Resolves a data path (folder of spans, folder of CSVs, or one file) and the window of spans to read; with the
    drift verdicts of earlier runs (`ledger`), rejected spans are left out and the reference is the last accepted
    span. `accept_drift` (a note, possibly empty) accepts the newest span's drift."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DataError(f"data path '{path}' does not exist; set data.path in the config or pass --data")
    if os.path.isfile(path) and not path.endswith(".csv"):
        raise DataError(f"data file '{path}' is not a .csv file")
    try:
        resolved, plan = ledger_lib.resolve_window(path, window, span, ledger or ledger_lib.Ledger(), accept_drift)
    except window_lib.WindowError as error:
        raise DataError(str(error)) from None
    if os.path.isfile(path):
        return DataSource(path, os.path.dirname(path), os.path.basename(path), resolved, plan)
    pattern = SPANS_PATTERN if resolved.available != (0,) else "*.csv"
    return DataSource(path, path, pattern, resolved, plan)


@dataclasses.dataclass(frozen=True)
class DataCheck:
    """What the files hold: every row read, the window's rows left out (without a label, or with a label value in
    neither class under label.other: drop), the label's counts and the dialect the files were read with."""

    rows: int
    missing_label: int
    other_label: int = 0
    positive: int = 0
    negative: int = 0
    label_values: dict[str, int] = dataclasses.field(default_factory=dict)  # categorical rule: cell -> window rows
    label_counts: str = ""  # checks.describe_label: e.g. "big_tipper: 2,412 positive, 1,976 negative, 12 missing"
    dialect: dialect_lib.Dialect | None = None
    header: tuple[str, ...] = ()  # the files' one header

    def describe(self) -> str:
        """E.g. "4,388 rows; 12 without a label, 3 with another label value, left out"."""
        left_out = [f"{self.missing_label:,} without a label"] if self.missing_label else []
        left_out += [f"{self.other_label:,} with another label value"] if self.other_label else []
        return f"{self.rows:,} rows" + (f"; {', '.join(left_out)}, left out" if left_out else "")


@dataclasses.dataclass
class _Tally:
    """What the rows hold so far: every row, text found in numeric columns, and what the window's rows hold."""

    rows: int = 0
    found: rows_lib.Tally = dataclasses.field(default_factory=rows_lib.Tally)  # text in numeric columns
    window: checks.WindowTally = dataclasses.field(default_factory=checks.WindowTally)


def rules_of(config: PipelineConfig) -> rows_lib.Rules:
    """How rows are read, here and in WindowExampleGen: missing-value tokens, numeric columns, the label (the
    configuration's label rule, field for field)."""
    features, label = config.features, config.features.label
    numeric_label = label.columns if label.greater_than is not None else ()
    return rows_lib.Rules(
        label=rows_lib.Label(**dataclasses.asdict(label)),
        numeric=tuple(dict.fromkeys((*features.numeric, *features.bucketized, *numeric_label))),
        categorical=features.categorical,
        missing_values=tuple(config.data.missing_values),
        max_missing_label_fraction=config.data.max_missing_label_fraction,
        min_rows_per_class=config.data.min_rows_per_class,
        delimiter=config.data.delimiter,
        encoding=config.data.encoding,
    )


def check(source: DataSource, config: PipelineConfig) -> DataCheck:
    """Checks the files the run reads, under the configuration's columns and rules."""
    window_files = [path for span in source.window.spans for path in source.window.files[span]]
    return check_csv_files(source.files, config.features.required_columns, rules_of(config), window_files)


def check_csv_files(
    files: Sequence[str],
    required_columns: Iterable[str],
    rules: rows_lib.Rules,
    window_files: Iterable[str] | None = None,
) -> DataCheck:
    """Checks every file has one header with all required columns, well-formed rows, numbers in the numeric
    columns, and that the rows of `window_files` (default: all; the others are read for drift only) have values in
    every feature, no stray text among a categorical column's whole numbers, and labels enough of each class for
    train and eval. The files are read with the dialect of the first one (data.delimiter and data.encoding, or
    detected)."""
    required = list(required_columns)
    in_window = set(files if window_files is None else window_files)
    tally = _Tally()
    dialect = dialect_lib.detect(files[0], rules.delimiter, rules.encoding)
    first_header: list[str] | None = None
    for file in files:
        header = _check_csv_file(file, required, rules, dialect, tally, file in in_window)
        if first_header is not None and header != first_header:
            raise DataError(f"'{file}' has a different header than '{files[0]}'; all files must have the same one")
        first_header = header
    classes = tally.window.classes
    problem = (
        rules.non_number_problem(tally.found.non_numbers, tally.found.samples)
        or checks.problem(rules, tally.window)
        or rules.missing_label_problem(classes[None], tally.window.rows)
        or rules.class_problem("the rows to train on", classes[False], classes[True], splits=2)
    )
    if problem:
        raise DataError(problem)
    return DataCheck(
        rows=tally.rows,
        missing_label=classes[None],
        other_label=classes[rows_lib.OTHER],
        positive=classes[True],
        negative=classes[False],
        label_values=dict(tally.window.label_values.most_common()),
        label_counts=checks.describe_label(rules, tally.window),
        dialect=dialect,
        header=tuple(first_header or ()),
    )


def _check_csv_file(
    file: str, required: list[str], rules: rows_lib.Rules, dialect: dialect_lib.Dialect, tally: _Tally, in_window: bool
) -> list[str]:
    if os.path.getsize(file) == 0:
        raise DataError(f"'{file}' is empty; it needs a header row and data rows")
    with open(file, newline="", encoding=dialect.encoding) as f:
        records = rows_lib.records(f, dialect.delimiter)
        try:
            header = next(records, (0, []))[1]
            _check_header(file, header, required, dialect)
            bad_rows, rows = [], 0
            while batch := list(itertools.islice(records, _BATCH_ROWS)):
                rows += len(batch)
                well_formed = [(line, cells) for line, cells in batch if len(cells) == len(header)]
                for line, cells in batch if len(well_formed) < len(batch) else ():
                    if len(cells) != len(header) and len(bad_rows) < _MAX_REPORTED_ROWS:
                        bad_rows.append(f"line {line} has {len(cells)} fields")
                rules.count_non_numbers(header, well_formed, file, tally.found)
                if in_window:  # the previous span is read for drift only
                    checks.count(rules, header, well_formed, rules.labels(header, well_formed), tally.window)
        except UnicodeDecodeError:
            with open(file, "rb") as binary:
                offset, byte = dialect_lib.first_undecodable(binary, dialect.encoding) or (0, 0)
            raise DataError(dialect_lib.decode_problem(file, dialect.encoding, offset, byte)) from None
        except csv.Error as e:
            raise DataError(f"'{file}' is not a readable CSV file: {e}") from None
    if bad_rows:
        raise DataError(
            f"'{file}' has malformed rows (the header has {len(header)} fields): {'; '.join(bad_rows)}; "
            "fix or remove those rows"
        )
    if rows == 0:
        raise DataError(f"'{file}' has a header but no data rows")
    tally.rows += rows
    return header


def _check_header(file: str, header: list[str], required: list[str], dialect: dialect_lib.Dialect) -> None:
    """All required columns, each once; a header read as one column names the delimiter it seems to use."""
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        if len(header) == 1:
            found = dialect_lib.sniff(header[0] + "\n")
            if found != dialect.delimiter and found in header[0]:
                hint = f"; it looks {dialect_lib.name(found)}-separated: set data.delimiter to {found!r}"
        raise DataError(
            f"'{file}' is missing column(s) {', '.join(repr(c) for c in missing)} that the config uses "
            f"(features or label); its header is: {', '.join(header)}" + hint
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataError(f"'{file}' repeats column(s) {duplicated} in its header")
