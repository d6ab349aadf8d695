"""Executor of DriftGate: reads DistributionValidator's result, writes the drift report, stops on blocking drift."""

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.drift_gate import policy, validator
from components.window_example_gen import window as window_lib

ANOMALIES_KEY, EXAMPLES_KEY, DRIFT_KEY, SETTINGS_KEY = "anomalies", "examples", "drift", "settings"
NEWEST_SPLIT, PREVIOUS_SPLIT = window_lib.NEWEST_SPLIT, window_lib.PREVIOUS_SPLIT  # WindowExampleGen's drift splits
REPORT_FILE = "drift.json"
# Custom properties of the drift artifact.
CHECKED_PROPERTY, BLOCKING_PROPERTY, WARNING_PROPERTY = "checked", "blocking", "warnings"


class DriftError(RuntimeError):
    """The newest span drifted past a blocking threshold; the message names each feature and value."""


def _label_counts(examples: types.Artifact, split: str) -> policy.LabelCounts | None:
    """What WindowExampleGen counted as it wrote the drift split; None on an artifact from before it counted."""
    labeled, positive = window_lib.LABEL_COUNT_PROPERTIES[split]
    if not examples.has_custom_property(labeled):
        return None
    return policy.LabelCounts(examples.get_int_custom_property(labeled), examples.get_int_custom_property(positive))


class Executor(base_executor.BaseExecutor):
    """Writes drift.json (every measurement, its threshold and action); raises DriftError on a blocking one."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        settings = json.loads(exec_properties[SETTINGS_KEY])
        anomalies_artifact = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        drift = artifact_utils.get_single_instance(output_dict[DRIFT_KEY])
        newest = examples.get_int_custom_property(window_lib.SPAN_PROPERTY)
        previous = examples.get_int_custom_property(window_lib.PREVIOUS_PROPERTY)
        report = {"newest_span": newest, "previous_span": None if previous < 0 else previous, "measurements": []}
        found = []
        if previous >= 0:
            path = validator.anomalies_path(anomalies_artifact.uri, NEWEST_SPLIT, PREVIOUS_SPLIT)
            found = policy.measurements(anomalies_util.load_anomalies_binary(path), settings)
            label = policy.label_measurement(
                _label_counts(examples, NEWEST_SPLIT), _label_counts(examples, PREVIOUS_SPLIT), settings
            )
            found += [label] if label else []
        report["measurements"] = [{**dataclasses.asdict(m), "over": m.over} for m in found]
        with tf.io.gfile.GFile(os.path.join(drift.uri, REPORT_FILE), "w") as f:
            json.dump(report, f, indent=2)
        blocking, warned = policy.blocking(found), policy.warnings(found)
        drift.set_int_custom_property(CHECKED_PROPERTY, int(previous >= 0))
        drift.set_int_custom_property(BLOCKING_PROPERTY, len(blocking))
        drift.set_int_custom_property(WARNING_PROPERTY, len(warned))
        if blocking:
            raise DriftError(
                f"span {newest} drifted from span {previous} past {len(blocking)} blocking threshold(s); the served "
                "model is unchanged. If the change is real, raise the thresholds or set the feature to warn under "
                "drift: in the configuration:\n  " + "\n  ".join(m.describe() for m in blocking)
            )
