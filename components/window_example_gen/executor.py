"""Executor of WindowExampleGen: CsvExampleGen over the spans of a window, plus the two spans drift compares."""

import json
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder

from components.window_example_gen import window as window_lib

# custom_config keys.
DATA_PATH_KEY, WINDOW_KEY, SPAN_KEY = "data_path", "window", "span"
NEWEST_SPLIT, PREVIOUS_SPLIT = window_lib.NEWEST_SPLIT, window_lib.PREVIOUS_SPLIT
SPAN_PROPERTY, WINDOW_PROPERTY, PREVIOUS_PROPERTY = (
    window_lib.SPAN_PROPERTY,
    window_lib.WINDOW_PROPERTY,
    window_lib.PREVIOUS_PROPERTY,
)
FINGERPRINT_PROPERTY, FILES_PROPERTY = window_lib.FINGERPRINT_PROPERTY, window_lib.FILES_PROPERTY


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


class _ReadSpans(beam.PTransform):
    """CSV files of several spans -> {span: PCollection[tf.train.Example]}, with one column typing for all of them
    (reading span by span could type a column int in one span and float in another)."""

    def __init__(self, files: dict[int, tuple[str, ...]]):
        super().__init__()
        self._files = files

    def expand(self, pipeline: beam.Pipeline) -> dict[int, beam.PCollection]:
        all_files = [path for span in sorted(self._files) for path in self._files[span]]
        column_names = csv_executor.io_utils.load_csv_column_names(all_files[0])
        for path in all_files[1:]:
            if csv_executor.io_utils.load_csv_column_names(path) != column_names:
                raise RuntimeError(f"'{path}' has a different header than '{all_files[0]}'")
        lines = {
            span: (
                pipeline
                | f"Files[span-{span}]" >> beam.Create(list(files))
                | f"Read[span-{span}]" >> beam.ParDo(csv_executor._ReadCsvRecordsFromTextFile())
                | f"Parse[span-{span}]" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=","))
                | f"Cells[span-{span}]" >> beam.Keys()
            )
            for span, files in sorted(self._files.items())
        }
        column_infos = beam.pvalue.AsSingleton(
            tuple(lines.values())
            | "AllSpans" >> beam.Flatten()
            | "InferColumnTypes"
            >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True))
        )
        return {
            span: span_lines
            | f"ToExample[span-{span}]" >> beam.ParDo(csv_executor._ParsedCsvToTfExample(), column_infos)
            for span, span_lines in lines.items()
        }


class Executor(csv_executor.Executor):
    """Splits the window's rows into the configured hash splits (train/eval) and writes the newest and the previous
    span again as splits of their own, for the drift check; records the spans on the Examples artifact."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]) -> dict[str, Any]:
        # Resolved once, before reading, and recorded as read: a span added during the run is left to the next one.
        window = self._window = window_of(exec_properties)
        self._fingerprint = window.fingerprint()
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        splits = output_config.split_config.splits
        buckets, total = [], 0
        for split in splits:
            total += split.hash_buckets
            buckets.append(total)
        by_span = pipeline | "ReadWindow" >> _ReadSpans(window.files)
        parts = (
            [by_span[span] for span in window.spans]
            | "Window" >> beam.Flatten()
            | "SplitData"
            >> beam.Partition(base_example_gen_executor._PartitionFn, len(buckets), buckets, output_config.split_config)
        )
        result = {split.name: parts[index] for index, split in enumerate(splits)}
        result[NEWEST_SPLIT] = by_span[window.newest]
        # With no earlier span the newest one is its own baseline: nothing to compare, so no drift.
        result[PREVIOUS_SPLIT] = by_span[window.previous if window.previous is not None else window.newest]
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
        super().Do(input_dict, output_dict, exec_properties)
        window = self._window
        examples.span = window.newest  # the Examples type's own property, which StatisticsGen copies on
        examples.set_int_custom_property(SPAN_PROPERTY, window.newest)
        examples.set_string_custom_property(WINDOW_PROPERTY, ",".join(str(s) for s in window.spans))
        examples.set_int_custom_property(PREVIOUS_PROPERTY, -1 if window.previous is None else window.previous)
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, self._fingerprint)
        files = {str(span): list(paths) for span, paths in window.files.items()}
        examples.set_string_custom_property(FILES_PROPERTY, json.dumps(files))
