"""What a CSV row means to the run: its records, its missing cells, its numbers and its label.

Pure Python, no TFX types: WindowExampleGen's executor applies these rules to every row it reads, and `kfx run`
applies the same ones before anything runs (pipeline/data.py), so both stop on the same data with the same words.
"""

import collections
import csv
import dataclasses
import functools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TextIO

# tfx_bsl types a column INT only if every number fits in int64; a longer integer makes it a string column.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
SAMPLES = 5  # offending cells named per column


@dataclasses.dataclass
class Tally:
    """What `Rules.scan` found: cells that are not numbers by numeric column, and a few of them (file, line, value)."""

    non_numbers: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    samples: collections.defaultdict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))


class WindowDataError(ValueError):
    """The window's rows cannot train or evaluate a model as configured; the message says what was found."""


def records(text: TextIO, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each CSV record, header included, blank lines skipped.

    `text` is opened with newline="" (quoted newlines stay in their field, CRLF is one line end) and the file's
    encoding (dialect.py: "utf-8-sig" for UTF-8, so a byte-order mark is not part of the first column name). Line
    numbers are those an editor shows.
    """
    reader = csv.reader(text, delimiter=delimiter)
    line = 1
    for cells in reader:
        if cells:
            yield line, cells
        line = reader.line_num + 1


def parse_number(cell: str) -> float | None:
    """The cell as a number, read as tfx_bsl types a column (int64 or float), or None if it is not one."""
    try:
        whole = int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return None
    return float(whole) if _INT64_MIN <= whole <= _INT64_MAX else None


# What labels() gives a row whose label value is in neither label.one_of nor label.negative.
OTHER = "other"
# What str.strip and tf.strings.strip (absl's StripAsciiWhitespace) both remove.
_ASCII_WHITESPACE = " \t\n\v\f\r"


@dataclasses.dataclass(frozen=True)
class Label:
    """The binary label: `column` > `greater_than` (× `times`), or `column` one of `one_of` (negative: one of
    `negative` if given, else any other value; `other`: "stop" or "drop" for values in neither; `fold_case`: compare
    as `fold` makes the values): the configuration's label section, field for field (pipeline/data.py rules_of), as
    models/features.py LabelRule is for the graph."""

    name: str
    column: str
    greater_than: float | None = None
    times: str | None = None
    one_of: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    other: str = "stop"
    fold_case: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, self.times) if self.times else (self.column,)

    @staticmethod
    def fold(value: str) -> str:
        """A value as fold_case compares it: lowercased, without surrounding ASCII whitespace (as the graph's
        tf.strings.lower and tf.strings.strip, and models.features.LabelRule.fold)."""
        return value.strip(_ASCII_WHITESPACE).lower()

    def classify(self, value: str) -> bool | str:
        """A present value of a categorical rule: True (positive), False (negative) or OTHER."""
        positive, negative = self._folded
        value = self.fold(value) if self.fold_case else value
        if value in positive:
            return True
        return False if not self.negative or value in negative else OTHER

    @functools.cached_property
    def _folded(self) -> tuple[frozenset[str], frozenset[str]]:
        key = self.fold if self.fold_case else str
        return frozenset(map(key, self.one_of)), frozenset(map(key, self.negative))

    def describe(self) -> str:
        """E.g. "big_tipper (tips > 0.2 × fare)"."""
        if self.greater_than is None:
            negative = f", not {', '.join(self.negative)}" if self.negative else ""
            return f"{self.name} ({self.column} is one of {', '.join(self.one_of)}{negative})"
        times = f" × {self.times}" if self.times else ""
        return f"{self.name} ({self.column} > {self.greater_than:g}{times})"


@dataclasses.dataclass(frozen=True)
class Rules:
    """How rows are read: the file's dialect, which cells mean missing, which columns hold numbers or categories,
    the label and its limits."""

    label: Label
    numeric: tuple[str, ...] = ()  # columns that must hold numbers (or missing cells)
    categorical: tuple[str, ...] = ()  # columns with a vocabulary (checked for stray text among integers)
    missing_values: tuple[str, ...] = ("",)
    max_missing_label_fraction: float = 0.05
    min_rows_per_class: int = 10
    delimiter: str = "auto"  # "auto" or the field separator (dialect.py)
    encoding: str = "auto"  # "auto" or a Python codec name (dialect.py)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Rules":
        fields = json.loads(text)
        label = fields.pop("label")
        label = Label(**{**label, **{key: tuple(label[key]) for key in ("one_of", "negative")}})
        listed = {key: tuple(fields[key]) for key in ("numeric", "categorical", "missing_values")}
        return cls(label=label, **{**fields, **listed})

    def is_missing(self, cell: str) -> bool:
        return cell in self.missing_values

    def count_non_numbers(
        self, header: Sequence[str], batch: Sequence[tuple[int, list[str]]], file: str, tally: Tally
    ) -> None:
        """Counts the numeric columns' cells of `batch` ((line, cells) records of `file`) that are neither a number
        nor missing into `tally`, checking each distinct cell once."""
        index = {column: position for position, column in enumerate(header)}
        for column in self.numeric:
            at = index[column]
            distinct = {cells[at] for _, cells in batch}
            bad = {cell for cell in distinct if not self.is_missing(cell) and parse_number(cell) is None}
            for line, cells in batch if bad else ():
                if cells[at] in bad:
                    tally.non_numbers[column] += 1
                    if len(tally.samples[column]) < SAMPLES:
                        tally.samples[column].append((file, line, cells[at]))

    def labels(self, header: Sequence[str], batch: Sequence[tuple[int, list[str]]]) -> list[bool | str | None]:
        """The label of each row of `batch`: True or False; None when any of its columns is missing (or not a
        number, for a numeric rule); OTHER for a value in neither label.one_of nor label.negative. Each distinct
        cell is read once per batch."""
        at = [header.index(column) for column in self.label.columns]
        if self.label.greater_than is None:
            cells = [cells[at[0]] for _, cells in batch]
            found = {cell: None if self.is_missing(cell) else self.label.classify(cell) for cell in set(cells)}
            return [found[cell] for cell in cells]
        numbers = [self._numbers({cells[index] for _, cells in batch}) for index in at]
        bound, found = self.label.greater_than, []
        for _, cells in batch:
            value = numbers[0][cells[at[0]]]
            scale = numbers[1][cells[at[1]]] if self.label.times else 1.0
            found.append(None if value is None or scale is None else value > bound * scale)
        return found

    def _numbers(self, cells: set[str]) -> dict[str, float | None]:
        """Each cell as a number; None for a missing cell, text or NaN."""
        found = {}
        for cell in cells:
            number = None if self.is_missing(cell) else parse_number(cell)
            found[cell] = None if number is None or math.isnan(number) else number
        return found

    def non_number_problem(self, counts: Mapping[str, int], samples: Mapping[str, Sequence[tuple]]) -> str | None:
        """Names each numeric column with text in it, a few of its cells (file, line, value) and the fix."""
        parts = []
        for column in self.numeric:
            if counts.get(column):
                by_file: dict[str, list[str]] = {}
                for file, line, value in sorted(samples.get(column, ()))[:SAMPLES]:
                    by_file.setdefault(file, []).append(f"{value!r} on line {line}")
                cells = " and ".join(f"{', '.join(found)} of {file}" for file, found in by_file.items())
                part = f"numeric column '{column}' has {counts[column]:,} cell(s) that are not numbers"
                parts.append(f"{part}: {cells}" if cells else part)  # a runner without string metrics: no cells
        if not parts:
            return None
        return "; ".join(parts) + "; fix those cells, or list the text under data.missing_values if it means missing"

    def missing_label_problem(self, missing: int, rows: int) -> str | None:
        """Too many rows without a label for data.max_missing_label_fraction."""
        if not rows or missing / rows <= self.max_missing_label_fraction:
            return None
        columns = " or ".join(f"'{column}'" for column in self.label.columns)
        return (
            f"{missing:,} of the window's {rows:,} rows ({missing / rows:.1%}) have no label {self.label.name} "
            f"({columns} missing), more than data.max_missing_label_fraction allows "
            f"({self.max_missing_label_fraction:.1%}); fill in those cells or raise the limit"
        )

    def class_problem(self, where: str, negative: int, positive: int, splits: int = 1) -> str | None:
        """A single-class label, or too few rows of either class: `splits` (train and eval) need
        data.min_rows_per_class each."""
        need = self.min_rows_per_class * splits
        if min(negative, positive) >= need:
            return None
        why = "" if splits == 1 else f", {self.min_rows_per_class:,} for each of train and eval"
        return (
            f"{where}: {positive:,} positive and {negative:,} negative rows of {self.label.describe()}; "
            f"need at least {need:,} of each (data.min_rows_per_class{why})"
        )
