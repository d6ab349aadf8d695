"""Executor of WindowExampleGen: CsvExampleGen over the spans of a window, plus the two spans drift compares.

Rows are read with Python's csv module (quoted commas and newlines, a byte-order mark, CRLF, blank lines), their
missing-value tokens become missing values, and rows without a label are left out. What it found is counted in Beam
metrics, and checked once the pipeline has run: text in a numeric column, too many rows without a label, or a
train or eval split with too few rows of a class stop the run with a `WindowDataError` before anything trains.
"""

import collections
import io
import itertools
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics, MetricsFilter
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder

from components.window_example_gen import encoding
from components.window_example_gen import rows as rows_lib
from components.window_example_gen import window as window_lib

# custom_config keys.
DATA_PATH_KEY, WINDOW_KEY, SPAN_KEY = "data_path", "window", "span"
# Execution parameter holding rows.Rules as JSON: on Kubeflow the window resolver replaces custom_config.
RULES_KEY = "rules"
NEWEST_SPLIT, PREVIOUS_SPLIT = window_lib.NEWEST_SPLIT, window_lib.PREVIOUS_SPLIT
SPAN_PROPERTY, WINDOW_PROPERTY, PREVIOUS_PROPERTY = (
    window_lib.SPAN_PROPERTY,
    window_lib.WINDOW_PROPERTY,
    window_lib.PREVIOUS_PROPERTY,
)
FINGERPRINT_PROPERTY, FILES_PROPERTY = window_lib.FINGERPRINT_PROPERTY, window_lib.FILES_PROPERTY
# Rows of the window left out because their label is missing.
MISSING_LABEL_PROPERTY = "missing_label_rows"

# Beam metrics of the read: window rows, those without a label, classes per split, text in numeric columns.
METRICS_NAMESPACE = "WindowExampleGen"
ROWS, MISSING_LABEL, CLASS, NON_NUMBER, SAMPLE = "rows", "missing_label", "class/", "non_number/", "sample/"


def custom_config(settings: dict[str, Any]) -> example_gen_pb2.CustomConfig:
    """ExampleGen's `custom_config` (a proto holding an Any) carrying the window settings as a Struct."""
    struct = struct_pb2.Struct()
    struct.update(settings)
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def settings_of(exec_properties: dict[str, Any]) -> dict[str, Any]:
    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}", config)
    struct = struct_pb2.Struct()
    if config.HasField("custom_config"):
        config.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


def window_of(exec_properties: dict[str, Any]) -> window_lib.Window:
    settings = settings_of(exec_properties)
    data_path = settings.get(DATA_PATH_KEY) or exec_properties[standard_component_specs.INPUT_BASE_KEY]
    span = settings.get(SPAN_KEY)
    return window_lib.resolve(data_path, int(settings.get(WINDOW_KEY) or 1), None if span is None else int(span))


def _header(path: str) -> list[str]:
    with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        return next(rows_lib.records(text), (0, []))[1]


# Rows travel through the Beam pipeline in chunks: per-element overhead, not the work, dominated one row at a time.
CHUNK_ROWS = 4096
# A chunk: the rows' cells (bytes, missing ones empty) and their labels.
Chunk = tuple[list[list[bytes]], list[bool]]


def _add_counts(counts: collections.Counter) -> None:
    for name, count in counts.items():
        Metrics.counter(METRICS_NAMESPACE, name).inc(count)


class _ReadRows(beam.DoFn):
    """One CSV file -> chunks of the rows that have a label. Cells are bytes, and missing ones (any of the
    missing-value tokens) empty: tfx_bsl's typing skips them, so `NA` leaves a numeric column numeric."""

    def __init__(self, header: list[str], rules: rows_lib.Rules, in_window: bool):
        super().__init__()
        self._header, self._rules, self._in_window = header, rules, in_window
        self._sampled: collections.Counter = collections.Counter()

    def process(self, path: str) -> Iterable[Chunk]:
        counts: collections.Counter = collections.Counter()
        rows, labels = [], []
        missing = set(self._rules.missing_values)
        with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            records = rows_lib.records(text)
            next(records, None)  # the header, the same in every file (checked before the pipeline)
            for line, cells in records:
                if len(cells) != len(self._header):
                    raise ValueError(f"'{path}' line {line} has {len(cells)} fields, its header {len(self._header)}")
                row = dict(zip(self._header, cells, strict=True))
                for column in self._rules.non_numbers(row):
                    counts[f"{NON_NUMBER}{column}"] += 1
                    if self._sampled[column] < rows_lib.SAMPLES:  # the message names a few; the count says how many
                        self._sampled[column] += 1
                        sample = json.dumps([path, line, row[column]])
                        Metrics.string_set(METRICS_NAMESPACE, f"{SAMPLE}{column}").add(sample)
                label = self._rules.label_of(row)
                if self._in_window:  # the previous span is read for drift only; its rows were counted in its run
                    counts[ROWS] += 1
                    counts[MISSING_LABEL] += label is None
                if label is not None:
                    rows.append([b"" if cell in missing else cell.encode() for cell in cells])
                    labels.append(label)
                    if len(rows) == CHUNK_ROWS:
                        yield rows, labels
                        rows, labels = [], []
        if rows:
            yield rows, labels
        _add_counts(counts)


class _ColumnTypes(beam.CombineFn):
    """tfx_bsl's column typing (int64, else float, else string) over chunks: each distinct cell of a column is
    typed once, as repeated values cannot change the type."""

    def __init__(self, column_names: list[str]):
        super().__init__()
        self._names = column_names
        self._all = csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True)
        self._one = [csv_decoder.ColumnTypeInferrer([name], skip_blank_lines=True) for name in column_names]

    def create_accumulator(self) -> dict:
        return self._all.create_accumulator()

    def add_input(self, accumulator: dict, chunk: Chunk) -> dict:
        rows, _ = chunk
        for index, inferrer in enumerate(self._one):
            for cell in {row[index] for row in rows}:
                accumulator = inferrer.add_input(accumulator, [cell])
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict]) -> dict:
        return self._all.merge_accumulators(list(accumulators))

    def extract_output(self, accumulator: dict) -> list[csv_decoder.ColumnInfo]:
        return self._all.extract_output(accumulator)


class _ToSplits(beam.DoFn):
    """Chunks of one span -> serialized examples, tagged with each split they belong to: the hash split (train or
    eval) when the span is in the window, and the newest or previous span's own split for the drift check."""

    def __init__(self, split_config: example_gen_pb2.SplitConfig, in_window: bool, also: list[str]):
        super().__init__()
        self._split_config, self._in_window, self._also = split_config, in_window, also
        self._names = [split.name for split in split_config.splits]
        self._buckets = list(itertools.accumulate(split.hash_buckets for split in split_config.splits))
        self._encoder: encoding.ExampleEncoder | None = None  # the column types come with the first chunk

    def process(self, chunk: Chunk, column_infos: list[csv_decoder.ColumnInfo]) -> Iterable[Any]:
        counts: collections.Counter = collections.Counter()
        buckets = self._buckets
        self._encoder = self._encoder or encoding.ExampleEncoder(column_infos)
        for cells, label in zip(*chunk, strict=True):
            # Missing cells are absent features; serialized deterministically, as TFX's hash split hashes the bytes.
            record = self._encoder.encode(cells)
            if self._in_window:  # TFX's hash split of the serialized example
                index = base_example_gen_executor._PartitionFn(record, len(buckets), buckets, self._split_config)
                name = self._names[index]
                counts[f"{CLASS}{name}/{int(label)}"] += 1
                yield beam.pvalue.TaggedOutput(name, record)
            for name in self._also:
                yield beam.pvalue.TaggedOutput(name, record)
        _add_counts(counts)


class _ReadSpans(beam.PTransform):
    """CSV files of the window's spans -> {split: PCollection[serialized tf.train.Example]}, with one column typing
    for all of them (reading span by span could type a column int in one span and float in another)."""

    def __init__(self, window: window_lib.Window, rules: rows_lib.Rules, split_config: example_gen_pb2.SplitConfig):
        super().__init__()
        self._window, self._rules, self._split_config = window, rules, split_config

    def expand(self, pipeline: beam.Pipeline) -> dict[str, beam.PCollection]:
        window, files = self._window, self._window.files
        all_files = [path for span in sorted(files) for path in files[span]]
        column_names = _header(all_files[0])
        for path in all_files[1:]:
            if _header(path) != column_names:
                raise RuntimeError(f"'{path}' has a different header than '{all_files[0]}'")
        chunks = {
            span: (
                pipeline
                | f"Files[span-{span}]" >> beam.Create(list(span_files))
                | f"Read[span-{span}]" >> beam.ParDo(_ReadRows(column_names, self._rules, span in window.spans))
            )
            for span, span_files in sorted(files.items())
        }
        column_infos = beam.pvalue.AsSingleton(
            tuple(chunks.values())
            | "AllSpans" >> beam.Flatten()
            | "InferColumnTypes" >> beam.CombineGlobally(_ColumnTypes(column_names))
        )
        # With no earlier span the newest one is its own baseline: nothing to compare, so no drift.
        previous = window.previous if window.previous is not None else window.newest
        names = [split.name for split in self._split_config.splits]
        outputs: dict[str, list[beam.PCollection]] = {name: [] for name in [*names, NEWEST_SPLIT, PREVIOUS_SPLIT]}
        for span, span_chunks in chunks.items():
            also = [name for name, of in ((NEWEST_SPLIT, window.newest), (PREVIOUS_SPLIT, previous)) if of == span]
            tags = [*(names if span in window.spans else []), *also]
            to_splits = _ToSplits(self._split_config, span in window.spans, also)
            tagged = span_chunks | f"ToExamples[span-{span}]" >> beam.ParDo(to_splits, column_infos).with_outputs(*tags)
            for tag in tags:
                outputs[tag].append(tagged[tag])
        return {name: tuple(parts) | f"Flatten[{name}]" >> beam.Flatten() for name, parts in outputs.items()}


class Executor(csv_executor.Executor):
    """Splits the window's rows into the configured hash splits (train/eval) and writes the newest and the previous
    span again as splits of their own, for the drift check; records the spans on the Examples artifact."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]) -> dict[str, Any]:
        # Resolved once, before reading, and recorded as read: a span added during the run is left to the next one.
        window = self._window = window_of(exec_properties)
        self._fingerprint = window.fingerprint()
        self._pipeline = pipeline  # its result holds the metrics, once the base Do has run it
        split_config = _output_config(exec_properties).split_config
        result = pipeline | "ReadWindow" >> _ReadSpans(window, self._rules, split_config)
        # The base Do names the splits from the output config before calling this, and checks every split it
        # writes against those names: name the drift splits too.
        self._examples.split_names = artifact_utils.encode_split_names(list(result))
        return result

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        self._examples = examples
        self._rules = rows_lib.Rules.from_json(exec_properties[RULES_KEY])
        super().Do(input_dict, output_dict, exec_properties)
        window = self._window
        examples.span = window.newest  # the Examples type's own property, which StatisticsGen copies on
        examples.set_int_custom_property(SPAN_PROPERTY, window.newest)
        examples.set_string_custom_property(WINDOW_PROPERTY, ",".join(str(s) for s in window.spans))
        examples.set_int_custom_property(PREVIOUS_PROPERTY, -1 if window.previous is None else window.previous)
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, self._fingerprint)
        files = {str(span): list(paths) for span, paths in window.files.items()}
        examples.set_string_custom_property(FILES_PROPERTY, json.dumps(files))
        counts, samples = self._metrics()
        examples.set_int_custom_property(MISSING_LABEL_PROPERTY, counts.get(MISSING_LABEL, 0))
        splits = [split.name for split in _output_config(exec_properties).split_config.splits]
        problem = self._problem(counts, samples, splits)
        if problem:
            raise rows_lib.WindowDataError(problem)

    def _metrics(self) -> tuple[dict[str, int], dict[str, list[tuple]]]:
        """Counters by name, and the sampled offending cells (file, line, value) by column."""
        found = self._pipeline.result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))

        def value(result: Any) -> Any:  # committed where the runner supports it, attempted otherwise
            return result.committed if result.committed is not None else result.attempted

        counts: collections.Counter = collections.Counter()  # summed over the steps (one per span) that count
        for result in found["counters"]:
            counts[result.key.metric.name] += value(result)
        samples: dict[str, list[tuple]] = collections.defaultdict(list)
        for result in found["string_sets"]:
            samples[result.key.metric.name.removeprefix(SAMPLE)] += [tuple(json.loads(s)) for s in value(result)]
        return dict(counts), dict(samples)

    def _problem(self, counts: dict[str, int], samples: dict[str, list[tuple]], splits: list[str]) -> str | None:
        """The first reason the window cannot train or evaluate a model, in the order a user fixes them."""
        rules = self._rules
        non_numbers = {name.removeprefix(NON_NUMBER): n for name, n in counts.items() if name.startswith(NON_NUMBER)}
        problems = [
            rules.non_number_problem(non_numbers, samples),
            rules.missing_label_problem(counts.get(MISSING_LABEL, 0), counts.get(ROWS, 0)),
            *(
                rules.class_problem(
                    f"{split} split", counts.get(f"{CLASS}{split}/0", 0), counts.get(f"{CLASS}{split}/1", 0)
                )
                for split in splits
            ),
        ]
        return next((problem for problem in problems if problem), None)


def _output_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Output:
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return output_config
