"""Executors of ServingBaseline and of the Evaluator variant that skips an empty baseline."""

from typing import Any

from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from serving import versions

MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
SERVING_MODEL_DIR_KEY = "serving_model_dir"
# Custom properties of the baseline Model artifact.
HAS_MODEL_PROPERTY = "has_model"
SERVED_VERSION_PROPERTY = "served_version"
SERVED_PATH_PROPERTY = "served_path"


class Executor(base_executor.BaseExecutor):
    """Copies the latest complete version under `serving_model_dir` into the baseline Model artifact."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        baseline = artifact_utils.get_single_instance(output_dict[BASELINE_MODEL_KEY])
        served = versions.latest_complete_version(exec_properties[SERVING_MODEL_DIR_KEY])
        if served is None:
            baseline.set_int_custom_property(HAS_MODEL_PROPERTY, 0)
            return
        version, path = served
        io_utils.copy_dir(path, path_utils.serving_model_dir(baseline.uri))
        baseline.set_int_custom_property(HAS_MODEL_PROPERTY, 1)
        baseline.set_int_custom_property(SERVED_VERSION_PROPERTY, version)
        baseline.set_string_custom_property(SERVED_PATH_PROPERTY, path)


def has_model(artifact: types.Artifact) -> bool:
    """False for a baseline artifact that ServingBaseline marked empty (nothing served yet)."""
    return bool(artifact.get_int_custom_property(HAS_MODEL_PROPERTY))


class EvaluatorExecutor(evaluator_executor.Executor):
    """TFX's Evaluator, except that an empty baseline counts as no baseline (first run: thresholds only)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        if input_dict.get(key) and not all(has_model(a) for a in input_dict[key]):
            input_dict = {**input_dict, key: []}
        super().Do(input_dict, output_dict, exec_properties)
