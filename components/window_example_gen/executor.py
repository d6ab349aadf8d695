"""Executor of WindowExampleGen: CsvExampleGen over the spans of a window, plus the two spans drift compares.

Rows are read with Python's csv module (quoted commas and newlines, a byte-order mark, CRLF, blank lines), their
missing-value tokens become missing values, and rows without a label are left out. What it found is counted in Beam
metrics, and checked once the pipeline has run: text in a numeric column, too many rows without a label, or a
train or eval split with too few rows of a class stop the run with a `WindowDataError` before anything trains.
"""

import collections
import io
import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import tensorflow as tf
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


def _count(name: str) -> None:
    Metrics.counter(METRICS_NAMESPACE, name).inc()


class _ReadRows(beam.DoFn):
    """One CSV file -> (cells, label) per row that has a label. Cells are bytes, and missing ones (any of the
    missing-value tokens) empty: tfx_bsl's typing skips them, so `NA` leaves a numeric column numeric."""

    def __init__(self, header: list[str], rules: rows_lib.Rules, in_window: bool):
        super().__init__()
        self._header, self._rules, self._in_window = header, rules, in_window
        self._sampled: collections.Counter = collections.Counter()

    def process(self, path: str) -> Iterable[tuple[list[bytes], bool]]:
        with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            records = rows_lib.records(text)
            next(records, None)  # the header, the same in every file (checked before the pipeline)
            for line, cells in records:
                if len(cells) != len(self._header):
                    raise ValueError(f"'{path}' line {line} has {len(cells)} fields, its header {len(self._header)}")
                row = dict(zip(self._header, cells, strict=True))
                for column in self._rules.non_numbers(row):
                    _count(f"{NON_NUMBER}{column}")
                    if self._sampled[column] < rows_lib.SAMPLES:  # the message names a few; the count says how many
                        self._sampled[column] += 1
                        sample = json.dumps([path, line, row[column]])
                        Metrics.string_set(METRICS_NAMESPACE, f"{SAMPLE}{column}").add(sample)
                label = self._rules.label_of(row)
                if self._in_window:  # the previous span is read for drift only; its rows were counted in its run
                    _count(ROWS)
                    if label is None:
                        _count(MISSING_LABEL)
                if label is not None:
                    yield [b"" if self._rules.is_missing(cell) else cell.encode() for cell in cells], label


_FEATURES = {
    csv_decoder.ColumnType.INT: lambda cell: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(cell)])),
    csv_decoder.ColumnType.FLOAT: lambda cell: tf.train.Feature(float_list=tf.train.FloatList(value=[float(cell)])),
    csv_decoder.ColumnType.STRING: lambda cell: tf.train.Feature(bytes_list=tf.train.BytesList(value=[cell])),
}


def _to_example(
    row: tuple[list[bytes], bool], column_infos: list[csv_decoder.ColumnInfo]
) -> tuple[tf.train.Example, bool]:
    """A missing cell becomes an absent feature, which TFDV counts as missing (an empty value list counts as
    present); TFX's CSV reader writes empty lists."""
    cells, label = row
    features = {info.name: _FEATURES[info.type](cell) for cell, info in zip(cells, column_infos, strict=True) if cell}
    return tf.train.Example(features=tf.train.Features(feature=features)), label


class _ReadSpans(beam.PTransform):
    """CSV files of several spans -> {span: PCollection[(tf.train.Example, label)]}, with one column typing for all
    of them (reading span by span could type a column int in one span and float in another)."""

    def __init__(self, window: window_lib.Window, rules: rows_lib.Rules):
        super().__init__()
        self._window, self._rules = window, rules

    def expand(self, pipeline: beam.Pipeline) -> dict[int, beam.PCollection]:
        files = self._window.files
        all_files = [path for span in sorted(files) for path in files[span]]
        column_names = _header(all_files[0])
        for path in all_files[1:]:
            if _header(path) != column_names:
                raise RuntimeError(f"'{path}' has a different header than '{all_files[0]}'")
        rows = {
            span: (
                pipeline
                | f"Files[span-{span}]" >> beam.Create(list(span_files))
                | f"Read[span-{span}]"
                >> beam.ParDo(_ReadRows(column_names, self._rules, in_window=span in self._window.spans))
            )
            for span, span_files in sorted(files.items())
        }
        column_infos = beam.pvalue.AsSingleton(
            tuple(rows.values())
            | "AllSpans" >> beam.Flatten()
            | "Cells" >> beam.Keys()
            | "InferColumnTypes"
            >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True))
        )
        return {
            span: span_rows | f"ToExample[span-{span}]" >> beam.Map(_to_example, column_infos)
            for span, span_rows in rows.items()
        }


def _partition(row: tuple[tf.train.Example, bool], *args: Any) -> int:
    """TFX's hash split of the example alone, so a row keeps its split whatever travels with it."""
    return base_example_gen_executor._PartitionFn(row[0], *args)


def _count_class(row: tuple[tf.train.Example, bool], split: str) -> tf.train.Example:
    _count(f"{CLASS}{split}/{int(row[1])}")
    return row[0]


class Executor(csv_executor.Executor):
    """Splits the window's rows into the configured hash splits (train/eval) and writes the newest and the previous
    span again as splits of their own, for the drift check; records the spans on the Examples artifact."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]) -> dict[str, Any]:
        # Resolved once, before reading, and recorded as read: a span added during the run is left to the next one.
        window = self._window = window_of(exec_properties)
        self._fingerprint = window.fingerprint()
        self._pipeline = pipeline  # its result holds the metrics, once the base Do has run it
        split_config = _output_config(exec_properties).split_config
        splits = split_config.splits
        buckets, total = [], 0
        for split in splits:
            total += split.hash_buckets
            buckets.append(total)
        by_span = pipeline | "ReadWindow" >> _ReadSpans(window, self._rules)
        parts = (
            [by_span[span] for span in window.spans]
            | "Window" >> beam.Flatten()
            | "SplitData" >> beam.Partition(_partition, len(buckets), buckets, split_config)
        )
        result = {
            split.name: parts[index] | f"CountClasses[{split.name}]" >> beam.Map(_count_class, split.name)
            for index, split in enumerate(splits)
        }
        result[NEWEST_SPLIT] = by_span[window.newest] | "Newest" >> beam.Keys()
        # With no earlier span the newest one is its own baseline: nothing to compare, so no drift.
        previous = window.previous if window.previous is not None else window.newest
        result[PREVIOUS_SPLIT] = by_span[previous] | "Previous" >> beam.Keys()
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

        counts = {result.key.metric.name: value(result) for result in found["counters"]}
        samples = {
            result.key.metric.name.removeprefix(SAMPLE): [tuple(json.loads(s)) for s in value(result)]
            for result in found["string_sets"]
        }
        return counts, samples

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
