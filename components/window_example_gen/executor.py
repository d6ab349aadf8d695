"""Executor of WindowExampleGen: CsvExampleGen over the spans of a window, plus the two spans drift compares.

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
from apache_beam.metrics import MetricsFilter
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.window_example_gen import checks, read
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


class Executor(csv_executor.Executor):
    """Splits the window's rows into the configured hash splits (train/eval) and writes the newest and the previous
    span again as splits of their own, for the drift check; records the spans on the Examples artifact, and the
    label counts of the two drift splits (what DriftGate compares)."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]) -> dict[str, Any]:
        # Resolved once, before reading, and recorded as read: a span added during the run is left to the next one.
        window = self._window = window_of(exec_properties)
        self._fingerprint = window.fingerprint()
        self._pipeline = pipeline  # its result holds the metrics, once the base Do has run it
        split_config = _output_config(exec_properties).split_config
        result = pipeline | "ReadWindow" >> read.ReadSpans(window, self._rules, split_config)
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
        examples.set_string_custom_property(SPAN_FINGERPRINT_PROPERTY, window.span_fingerprint(window.newest))
        examples.set_string_custom_property(EXCLUDED_PROPERTY, ",".join(str(s) for s in window.excluded))
        files = {str(span): list(paths) for span, paths in window.files.items()}
        examples.set_string_custom_property(FILES_PROPERTY, json.dumps(files))
        counts, samples = self._metrics()
        examples.set_int_custom_property(MISSING_LABEL_PROPERTY, counts.get(read.MISSING_LABEL, 0))
        examples.set_int_custom_property(OTHER_LABEL_PROPERTY, counts.get(read.OTHER_LABEL, 0))
        for split, (labeled_property, positive_property) in LABEL_COUNT_PROPERTIES.items():
            negative, positive = (counts.get(f"{read.CLASS}{split}/{label}", 0) for label in (0, 1))
            examples.set_int_custom_property(labeled_property, negative + positive)
            examples.set_int_custom_property(positive_property, positive)
        splits = [split.name for split in _output_config(exec_properties).split_config.splits]
        problem = self._problem(counts, samples, splits)
        if problem:
            raise rows_lib.WindowDataError(problem)

    def _metrics(self) -> tuple[dict[str, int], dict[str, list]]:
        """Counters by name, and string sets by name: sampled cells (file, line, value) of numeric columns, text
        values of categorical ones."""
        found = self._pipeline.result.metrics().query(MetricsFilter().with_namespace(read.METRICS_NAMESPACE))

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


def _output_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Output:
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return output_config
