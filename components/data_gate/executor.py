"""Executor of DataGate: raises when ExampleValidator found anomalies, so nothing downstream runs."""

import json
import os
from typing import Any

from absl import logging
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.components.example_validator import executor as example_validator_executor
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.data_gate import anomalies as anomalies_lib

ANOMALIES_KEY = "anomalies"
MODEL_COLUMNS_KEY = "model_columns"


class DataValidationError(RuntimeError):
    """The data does not match the schema; the message lists every anomaly."""


class Executor(base_executor.BaseExecutor):
    """Reads each split's anomalies and fails the run if any split has one."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        artifact = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        by_split = {}
        for split in artifact_utils.decode_split_names(artifact.split_names):
            # TFX 1.16 has no reader for ExampleValidator's output: its executor names the file in each split.
            split_uri = artifact_utils.get_split_uri([artifact], split)
            path = os.path.join(split_uri, example_validator_executor.DEFAULT_FILE_NAME)
            by_split[split] = anomalies_util.load_anomalies_binary(path)
        columns = exec_properties.get(MODEL_COLUMNS_KEY)
        if columns:
            by_split, ignored = anomalies_lib.split_by_columns(by_split, set(json.loads(columns)))
            for line in anomalies_lib.describe(ignored):
                logging.warning("DataGate: ignored, the model does not read the column: %s", line)
        problems = anomalies_lib.describe(by_split)
        if problems:
            raise DataValidationError(
                f"data validation failed with {len(problems)} anomal{'y' if len(problems) == 1 else 'ies'} "
                f"against the schema; fix the data or, if the change is intended, update the schema:\n  "
                + "\n  ".join(problems)
            )
