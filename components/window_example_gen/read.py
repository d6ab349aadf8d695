"""The Beam part of WindowExampleGen: the window's CSV files -> the split files of examples, in two passes.

Rows are read with Python's csv module (quoted commas and newlines, a byte-order mark, CRLF, blank lines), their
missing-value tokens become missing values, and rows without a label are left out. The first pass checks each file
(text in numeric columns, rows without a label: Beam metrics) and types its columns as tfx_bsl does; the second
reads the files again and writes each row to its split's files as it is encoded (write.py). Parsing twice costs a
few seconds per million rows; no step keeps the parsed rows while the column types are inferred, and none holds the
encoded rows before they are written.
"""

import collections
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2
from tfx_bsl.coders import csv_decoder

from components.window_example_gen import checks, encoding, write
from components.window_example_gen import dialect as dialect_lib
from components.window_example_gen import rows as rows_lib
from components.window_example_gen import window as window_lib

# Beam metrics of the read: window rows, those without a label and those with another label value (by value with
# label.other: stop), classes per split (drift splits included), text in numeric columns (with samples), feature
# columns with a value, whole numbers and text in categorical columns (with samples).
METRICS_NAMESPACE = "WindowExampleGen"
ROWS, MISSING_LABEL, CLASS, NON_NUMBER, SAMPLE = "rows", "missing_label", "class/", "non_number/", "sample/"
OTHER_LABEL, OTHER_VALUE, PRESENT = "other_label", "other_value/", "present/"
INTEGER, TEXT, TEXT_SAMPLE = "integer/", "text/", "text_sample/"
BATCH_ROWS = 4096  # rows handled at once: each distinct cell of a column is checked and typed once per batch
Records = list[tuple[int, list[str]]]  # (first line, cells) of CSV records


def dialect_of(path: str, rules: rows_lib.Rules) -> dialect_lib.Dialect:
    """The delimiter and encoding the window's files are read with: the rules' own, or detected from `path`."""
    with FileSystems.open(path) as raw:
        return dialect_lib.detect_head(dialect_lib.read_head(raw), rules.delimiter, rules.encoding)


def header(path: str, dialect: dialect_lib.Dialect) -> list[str]:
    with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding=dialect.encoding, newline="") as text:
        return next(rows_lib.records(text, dialect.delimiter), (0, []))[1]


def _batches(path: str, width: int, dialect: dialect_lib.Dialect) -> Iterator[Records]:
    """The file's records after the header (the same in every file, checked before the pipeline), in batches."""
    with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding=dialect.encoding, newline="") as text:
        records = rows_lib.records(text, dialect.delimiter)
        try:
            next(records, None)
            while batch := list(itertools.islice(records, BATCH_ROWS)):
                for line, cells in batch:
                    if len(cells) != width:
                        raise ValueError(f"'{path}' line {line} has {len(cells)} fields, its header {width}")
                yield batch
        except UnicodeDecodeError:
            with FileSystems.open(path) as binary:
                offset, byte = dialect_lib.first_undecodable(binary, dialect.encoding) or (0, 0)
            raise rows_lib.WindowDataError(dialect_lib.decode_problem(path, dialect.encoding, offset, byte)) from None


def _add_counts(counts: collections.Counter) -> None:
    for name, count in counts.items():
        Metrics.counter(METRICS_NAMESPACE, name).inc(count)


class _ColumnTypes(beam.CombineFn):
    """tfx_bsl's column typing (int64, else float, else string) of the rows that have a label: each file's types
    (`add_rows`, each distinct cell of a column typed once per batch, as repeats cannot change the type), merged."""

    def __init__(self, column_names: list[str], missing_values: Iterable[str]):
        super().__init__()
        self._missing = set(missing_values)
        self._all = csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True)
        self._one = [csv_decoder.ColumnTypeInferrer([name], skip_blank_lines=True) for name in column_names]

    def create_accumulator(self) -> dict:
        return self._all.create_accumulator()

    def add_rows(self, accumulator: dict, rows: list[list[str]]) -> dict:
        for index, inferrer in enumerate(self._one):
            for cell in {row[index] for row in rows} - self._missing:
                accumulator = inferrer.add_input(accumulator, [cell])
        return accumulator

    def add_input(self, accumulator: dict, of_file: dict) -> dict:
        return self._all.merge_accumulators([accumulator, of_file])

    def merge_accumulators(self, accumulators: Iterable[dict]) -> dict:
        return self._all.merge_accumulators(list(accumulators))

    def extract_output(self, accumulator: dict) -> list[csv_decoder.ColumnInfo]:
        return self._all.extract_output(accumulator)


class _ScanFile(beam.DoFn):
    """Pass 1: one (span, file) -> the column types of its rows that have a label; counts the window's rows (by
    label, feature values, categorical cells: checks.py) and the text in numeric columns (with a few samples)."""

    def __init__(
        self, column_names: list[str], rules: rows_lib.Rules, dialect: dialect_lib.Dialect, window_spans: list[int]
    ):
        super().__init__()
        self._names, self._rules, self._dialect, self._window_spans = column_names, rules, dialect, set(window_spans)
        self._types = _ColumnTypes(column_names, rules.missing_values)
        self._sampled: collections.Counter = collections.Counter()

    def process(self, span_file: tuple[int, str]) -> Iterable[dict]:
        span, path = span_file
        counts: collections.Counter = collections.Counter()
        window = checks.WindowTally()
        accumulator = self._types.create_accumulator()
        for batch in _batches(path, len(self._names), self._dialect):
            found = rows_lib.Tally()
            self._rules.count_non_numbers(self._names, batch, path, found)
            for column, count in found.non_numbers.items():
                counts[f"{NON_NUMBER}{column}"] += count
            for column, samples in found.samples.items():
                self._sample(f"{SAMPLE}{column}", samples)
            labels = self._rules.labels(self._names, batch)
            if span in self._window_spans:  # the previous span is read for drift only; counted in its own run
                checks.count(self._rules, self._names, batch, labels, window)
            labeled = [cells for (_, cells), label in zip(batch, labels, strict=True) if isinstance(label, bool)]
            accumulator = self._types.add_rows(accumulator, labeled)
        counts.update(self._window_counts(window))
        for column, texts in window.texts.items():
            self._sample(f"{TEXT_SAMPLE}{column}", sorted(texts, key=lambda text: -texts[text]))
        _add_counts(counts)
        yield accumulator

    def _window_counts(self, window: checks.WindowTally) -> dict[str, int]:
        counts = {ROWS: window.rows, MISSING_LABEL: window.classes[None], OTHER_LABEL: window.classes[rows_lib.OTHER]}
        if self._rules.label.other == "stop":  # the run stops naming them; dropped rows are only counted
            others = checks.other_values(self._rules, window.label_values)
            counts.update({f"{OTHER_VALUE}{value}": number for value, number in others.items()})
        counts.update({f"{PRESENT}{column}": 1 for column in window.present})
        counts.update({f"{INTEGER}{column}": number for column, number in window.integers.items()})
        counts.update({f"{TEXT}{column}": number for column, number in window.text_cells.items()})
        return counts

    def _sample(self, name: str, samples: list) -> None:
        """A few samples per metric over the worker's files; the counters say how many there are."""
        for sample in samples[: rows_lib.SAMPLES - self._sampled[name]]:
            self._sampled[name] += 1
            Metrics.string_set(METRICS_NAMESPACE, name).add(json.dumps(sample))


class _EncodeFile(beam.DoFn):
    """Pass 2: one (span, file) -> its rows that have a label, encoded as examples and written as they come
    (write.py): to the hash split (train or eval) when the span is in the window, else to the drift split that
    reads it (`written`: split -> span, the previous span outside the window). Counts each row's label per split it
    belongs to, the drift splits (`drift_spans`: split -> span) included. A missing cell is an absent feature."""

    def __init__(
        self,
        column_names: list[str],
        rules: rows_lib.Rules,
        dialect: dialect_lib.Dialect,
        split_config: example_gen_pb2.SplitConfig,
        window: window_lib.Window,
        drift_spans: dict[str, int],
        examples_uri: str,
    ):
        super().__init__()
        self._names, self._rules, self._dialect, self._split_config = column_names, rules, dialect, split_config
        self._window_spans, self._files, self._drift_spans = set(window.spans), window.files, drift_spans
        self._examples_uri = examples_uri
        self._splits = [split.name for split in split_config.splits]
        self._buckets = list(itertools.accumulate(split.hash_buckets for split in split_config.splits))
        self._encoder: encoding.ExampleEncoder | None = None  # the column types arrive with the first file

    def process(self, span_file: tuple[int, str], column_infos: list[csv_decoder.ColumnInfo]) -> Iterable[Any]:
        span, path = span_file
        in_window = span in self._window_spans
        also = [name for name, of in self._drift_spans.items() if of == span]
        index = self._files[span].index(path)
        shards = write.shard_count(FileSystems.match([path])[0].metadata_list[0].size_in_bytes)
        writers = {
            split: write.ShardWriter(self._examples_uri, split, span, index, shards)
            for split in (self._splits if in_window else also)
        }
        self._encoder = self._encoder or encoding.ExampleEncoder(column_infos)
        counts: collections.Counter = collections.Counter()
        missing, buckets = set(self._rules.missing_values), self._buckets
        for batch in _batches(path, len(self._names), self._dialect):
            for (line, cells), label in zip(batch, self._rules.labels(self._names, batch), strict=True):
                if not isinstance(label, bool):  # missing, or another value (label.other: drop; stop fails the run)
                    continue
                record = self._encoder.encode([b"" if cell in missing else cell.encode() for cell in cells])
                if in_window:  # TFX's hash split of the serialized example
                    split = self._splits[
                        base_example_gen_executor._PartitionFn(record, len(buckets), buckets, self._split_config)
                    ]
                    counts[f"{CLASS}{split}/{int(label)}"] += 1
                    writers[split].write(record, line)
                for name in also:
                    counts[f"{CLASS}{name}/{int(label)}"] += 1
                    if not in_window:
                        writers[name].write(record, line)
        for writer in writers.values():
            writer.close()
        _add_counts(counts)
        yield path


class WriteSpans(beam.PTransform):
    """CSV files of the window's spans -> the splits of the Examples artifact at `examples_uri`, written by the step
    that encodes them, with one column typing for all of them (reading span by span could type a column int in one
    span and float in another). Writes the rows of the drift splits that are not rows of the window (`drift_spans`:
    split -> span); the executor links the others from the window's splits."""

    def __init__(
        self,
        window: window_lib.Window,
        rules: rows_lib.Rules,
        split_config: example_gen_pb2.SplitConfig,
        drift_spans: dict[str, int],
        examples_uri: str,
    ):
        super().__init__()
        self._window, self._rules, self._split_config = window, rules, split_config
        self._drift_spans, self._examples_uri = drift_spans, examples_uri

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        window, files = self._window, self._window.files
        all_files = [path for span in sorted(files) for path in files[span]]
        dialect = dialect_of(all_files[0], self._rules)
        names = header(all_files[0], dialect)
        for path in all_files[1:]:
            if header(path, dialect) != names:
                raise RuntimeError(f"'{path}' has a different header than '{all_files[0]}'")
        # One element per (span, file) and one step for every span, with no Flatten of per-span outputs (1.5 million
        # rows: 173 s before, 144 s).
        span_files = pipeline | "Files" >> beam.Create([(span, path) for span in sorted(files) for path in files[span]])
        column_infos = beam.pvalue.AsSingleton(
            span_files
            | "Scan" >> beam.ParDo(_ScanFile(names, self._rules, dialect, window.spans))
            | "ColumnTypes" >> beam.CombineGlobally(_ColumnTypes(names, self._rules.missing_values))
        )
        encode = _EncodeFile(
            names, self._rules, dialect, self._split_config, window, self._drift_spans, self._examples_uri
        )
        return span_files | "EncodeAndWrite" >> beam.ParDo(encode, column_infos)
