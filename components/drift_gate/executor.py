"""Executor of DriftGate: reads DistributionValidator's result, writes the drift report, stops on blocking drift."""

import dataclasses
import json
import os
from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx_bsl.coders import example_coder

from components.drift_gate import policy

ANOMALIES_KEY, EXAMPLES_KEY, DRIFT_KEY, SETTINGS_KEY = "anomalies", "examples", "drift", "settings"
NEWEST_SPLIT, PREVIOUS_SPLIT = "newest_span", "previous_span"  # WindowExampleGen's drift splits
REPORT_FILE = "drift.json"
# Custom properties of the drift artifact and of the Examples artifact it reads.
CHECKED_PROPERTY, BLOCKING_PROPERTY, WARNING_PROPERTY = "checked", "blocking", "warnings"
_SPAN_PROPERTY, _PREVIOUS_PROPERTY = "span", "previous_span"
_DECODE_BATCH = 8192  # serialized examples decoded at once


class DriftError(RuntimeError):
    """The newest span drifted past a blocking threshold; the message names each feature and value."""


def _split_columns(examples: types.Artifact, split: str, names: list[str]) -> dict[str, np.ndarray]:
    """The given columns of one split, missing values as NaN (numbers) or "" (strings); decoded in batches by
    tfx_bsl, which types each column from its values as TFX's readers do."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP").batch(_DECODE_BATCH)
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    values: dict[str, list] = {name: [] for name in names}
    for records in dataset.as_numpy_iterator():
        batch = decoder.DecodeBatch(list(records))
        for name in names:
            index = batch.schema.get_field_index(name)
            if index < 0:  # missing from every row of the batch
                values[name] += [np.nan] * batch.num_rows
                continue
            value_type = batch.schema.field(index).type.value_type
            missing = b"" if pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type) else np.nan
            values[name] += [cell[0] if cell else missing for cell in batch.column(index).to_pylist()]
    return {
        name: np.array([v.decode() if isinstance(v, bytes) else v for v in column]) for name, column in values.items()
    }


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
        newest = examples.get_int_custom_property(_SPAN_PROPERTY)
        previous = examples.get_int_custom_property(_PREVIOUS_PROPERTY)
        report = {"newest_span": newest, "previous_span": None if previous < 0 else previous, "measurements": []}
        found = []
        if previous >= 0:
            # DistributionValidator writes <uri>/SplitPair-<test>_<baseline>/SchemaDiff.pb
            path = os.path.join(anomalies_artifact.uri, f"SplitPair-{NEWEST_SPLIT}_{PREVIOUS_SPLIT}", "SchemaDiff.pb")
            found = policy.measurements(anomalies_util.load_anomalies_binary(path), settings)
            label = settings.get("label")
            if label:
                rule = label["rule"]
                names = [rule["column"]] + ([rule["times"]] if rule.get("times") else [])
                rates = [
                    policy.label_rate(_split_columns(examples, s, names), rule) for s in (NEWEST_SPLIT, PREVIOUS_SPLIT)
                ]
                measured = policy.label_measurement(rates[0], rates[1], settings)
                found += [measured] if measured else []
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
