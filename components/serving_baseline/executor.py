"""Executor of ServingBaseline: a copy of the version served now, with its number, path and fingerprint."""

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.atomic_pusher import fingerprint
from serving import versions

MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
SERVING_MODEL_DIR_KEY = "serving_model_dir"
# Custom properties of the baseline Model artifact.
HAS_MODEL_PROPERTY = "has_model"
SERVED_VERSION_PROPERTY = "served_version"
SERVED_PATH_PROPERTY = "served_path"
SERVED_FINGERPRINT_PROPERTY = "served_fingerprint"


class Executor(base_executor.BaseExecutor):
    """Copies the served version under `serving_model_dir` (serving.versions.served_version: the `stable` label's,
    else the latest complete one) into the baseline Model artifact."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        baseline = artifact_utils.get_single_instance(output_dict[BASELINE_MODEL_KEY])
        served = versions.served_version(exec_properties[SERVING_MODEL_DIR_KEY])
        if served is None:
            baseline.set_int_custom_property(HAS_MODEL_PROPERTY, 0)
            return
        version, path = served
        copy = path_utils.serving_model_dir(baseline.uri)
        io_utils.copy_dir(path, copy)
        baseline.set_int_custom_property(HAS_MODEL_PROPERTY, 1)
        baseline.set_int_custom_property(SERVED_VERSION_PROPERTY, version)
        baseline.set_string_custom_property(SERVED_PATH_PROPERTY, path)
        baseline.set_string_custom_property(SERVED_FINGERPRINT_PROPERTY, fingerprint.fingerprint(copy))


def has_model(artifact: types.Artifact) -> bool:
    """False for a baseline artifact that ServingBaseline marked empty (nothing served yet)."""
    return bool(artifact.get_int_custom_property(HAS_MODEL_PROPERTY))
