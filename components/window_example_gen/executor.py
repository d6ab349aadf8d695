"""Executor of WindowExampleGen: the rows of a window's spans as TFX Examples, plus the two spans drift compares.

It writes what TFX's CsvExampleGen writes (gzipped TFRecord files of tf.Example, `Split-<name>/data_tfrecord-*.gz`,
the same payload and file format properties), but without TFX's Reshuffle before the writer: each row is written
as it is encoded (write.py), so memory stays flat in the data size.

The rows are read by read.py (with the dialect of data.delimiter and data.encoding, or detected), which counts what
it finds in Beam metrics. Checked once the pipeline has run: text in a numeric column, a feature without any value,
text among a categorical column's whole numbers, label values in neither class (label.other: stop), too many rows
without a label, or a train or eval split with too few rows of a class stop the run with a `WindowDataError` before
anything trains. Rows with a label value in neither class are left out with label.other: drop, and counted.
"""

import collections
import json
from typing import Any

import apache_beam as beam
import tensorflow as tf
from apache_beam.metrics import MetricsFilter
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.window_example_gen import checks, read, write
from components.window_example_gen import rows as rows_lib
from components.window_example_gen import window as window_lib

# custom_config keys; the last two come from the drift verdicts in ML Metadata (components/drift_gate/ledger.py).
DATA_PATH_KEY, WINDOW_KEY, SPAN_KEY = "data_path", "window", "span"
EXCLUDED_KEY, REFERENCE_KEY = "excluded_spans", "reference_span"
# Execution parameter holding rows.Rules as JSON: on Kubeflow the window resolver replaces custom_config.
RULES_KEY = "rules"
NEWEST_SPLIT, PREVIOUS_SPLIT = window_lib.NEWEST_SPLIT, window_lib.PREVIOUS_SPLIT
SPAN_PROPERTY, WINDOW_PROPERTY, PREVIOUS_PROPERTY = (
    window_lib.SPAN_PROPERTY,
    window_lib.WINDOW_PROPERTY,
    window_lib.PREVIOUS_PROPERTY,
)
FINGERPRINT_PROPERTY, FILES_PROPERTY = window_lib.FINGERPRINT_PROPERTY, window_lib.FILES_PROPERTY
SPAN_FINGERPRINT_PROPERTY, EXCLUDED_PROPERTY = window_lib.SPAN_FINGERPRINT_PROPERTY, window_lib.EXCLUDED_PROPERTY
LABEL_COUNT_PROPERTIES = window_lib.LABEL_COUNT_PROPERTIES
# Rows of the window left out because their label is missing, or a value in neither class (label.other: drop).
MISSING_LABEL_PROPERTY, OTHER_LABEL_PROPERTY = "missing_label_rows", "other_label_rows"


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
    span, reference = settings.get(SPAN_KEY), settings.get(REFERENCE_KEY)
    return window_lib.resolve(
        data_path,
        int(settings.get(WINDOW_KEY) or 1),
        None if span is None else int(span),
        tuple(int(s) for s in settings.get(EXCLUDED_KEY) or ()),
        None if reference is None else int(reference),
    )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Splits the window's rows into the configured hash splits (train/eval), and, when there is an earlier span to
    compare with, adds the newest and the previous span as splits of their own for the drift check (their files are
    links to the window's, not copies); records the spans on the Examples artifact, and the label counts of the two
    drift splits (what DriftGate compares). With a single span there is nothing to compare: no drift splits."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        self._rules = rows_lib.Rules.from_json(exec_properties[RULES_KEY])
        # Resolved once, before reading, and recorded as read: a span added during the run is left to the next one.
        window = window_of(exec_properties)
        fingerprint = window.fingerprint()
        split_config = _output_config(exec_properties).split_config
        splits = [split.name for split in split_config.splits]
        drift_spans = drift_spans_of(window)
        for split in [*splits, *drift_spans]:
            tf.io.gfile.makedirs(write.split_dir(examples.uri, split))
        with self._make_beam_pipeline() as pipeline:
            _ = pipeline | "WriteWindow" >> read.WriteSpans(
                window, self._rules, split_config, drift_spans, examples.uri
            )
        for split, span in drift_spans.items():
            if span in window.spans:  # its rows are in train/eval already
                write.link_span(examples.uri, splits, span, split)
        write.ensure_readable(examples.uri, [*splits, *drift_spans])
        examples.split_names = artifact_utils.encode_split_names([*splits, *drift_spans])
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))
        examples.span = window.newest  # the Examples type's own property, which StatisticsGen copies on
        examples.set_int_custom_property(SPAN_PROPERTY, window.newest)
        examples.set_string_custom_property(WINDOW_PROPERTY, ",".join(str(s) for s in window.spans))
        examples.set_int_custom_property(PREVIOUS_PROPERTY, -1 if window.previous is None else window.previous)
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, fingerprint)
        examples.set_string_custom_property(SPAN_FINGERPRINT_PROPERTY, window.span_fingerprint(window.newest))
        examples.set_string_custom_property(EXCLUDED_PROPERTY, ",".join(str(s) for s in window.excluded))
        files = {str(span): list(paths) for span, paths in window.files.items()}
        examples.set_string_custom_property(FILES_PROPERTY, json.dumps(files))
        counts, samples = self._metrics(pipeline)
        examples.set_int_custom_property(MISSING_LABEL_PROPERTY, counts.get(read.MISSING_LABEL, 0))
        examples.set_int_custom_property(OTHER_LABEL_PROPERTY, counts.get(read.OTHER_LABEL, 0))
        for split in drift_spans:
            labeled_property, positive_property = LABEL_COUNT_PROPERTIES[split]
            negative, positive = (counts.get(f"{read.CLASS}{split}/{label}", 0) for label in (0, 1))
            examples.set_int_custom_property(labeled_property, negative + positive)
            examples.set_int_custom_property(positive_property, positive)
        problem = self._problem(counts, samples, splits)
        if problem:
            raise rows_lib.WindowDataError(problem)

    def _metrics(self, pipeline: beam.Pipeline) -> tuple[dict[str, int], dict[str, list]]:
        """Counters by name, and string sets by name: sampled cells (file, line, value) of numeric columns, text
        values of categorical ones."""
        found = pipeline.result.metrics().query(MetricsFilter().with_namespace(read.METRICS_NAMESPACE))

        def value(result: Any) -> Any:  # committed where the runner supports it, attempted otherwise
            return result.committed if result.committed is not None else result.attempted

        counts: collections.Counter = collections.Counter()  # summed over the steps (one per span) that count
        for result in found["counters"]:
            counts[result.key.metric.name] += value(result)
        samples: dict[str, list] = collections.defaultdict(list)
        for result in found["string_sets"]:
            loaded = [json.loads(sample) for sample in value(result)]
            samples[result.key.metric.name] += [tuple(s) if isinstance(s, list) else s for s in loaded]
        return dict(counts), dict(samples)

    def _problem(self, counts: dict[str, int], samples: dict[str, list], splits: list[str]) -> str | None:
        """The first reason the window cannot train or evaluate a model, in the order a user fixes them."""
        rules = self._rules

        def by_column(prefix: str, found: dict) -> dict:
            return {name.removeprefix(prefix): n for name, n in found.items() if name.startswith(prefix)}

        texts = {column: dict.fromkeys(values) for column, values in by_column(read.TEXT_SAMPLE, samples).items()}
        others = dict(sorted(by_column(read.OTHER_VALUE, counts).items(), key=lambda item: (-item[1], item[0])))
        problems = [
            rules.non_number_problem(by_column(read.NON_NUMBER, counts), by_column(read.SAMPLE, samples)),
            checks.empty_feature_problem(rules, set(by_column(read.PRESENT, counts)), counts.get(read.ROWS, 0)),
            checks.integer_text_problem(rules, by_column(read.INTEGER, counts), by_column(read.TEXT, counts), texts),
            checks.other_label_problem(rules, others, counts.get(read.OTHER_LABEL, 0)),
            rules.missing_label_problem(counts.get(read.MISSING_LABEL, 0), counts.get(read.ROWS, 0)),
            *(
                rules.class_problem(
                    f"{split} split", counts.get(f"{read.CLASS}{split}/0", 0), counts.get(f"{read.CLASS}{split}/1", 0)
                )
                for split in splits
            ),
        ]
        return next((problem for problem in problems if problem), None)


def drift_spans_of(window: window_lib.Window) -> dict[str, int]:
    """The drift splits and the span each holds: none when the window has no earlier span to compare with."""
    if window.previous is None:
        return {}
    return {NEWEST_SPLIT: window.newest, PREVIOUS_SPLIT: window.previous}


def _output_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Output:
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return output_config
