"""TFX's DistributionValidator, made to run on Kubeflow as well.

TFX 1.16's executor expects its `config` execution property as a DistributionValidatorConfig proto, which the local
launcher provides; the Kubeflow v2 entrypoint passes the JSON string instead, and the executor then fails with
"'str' object has no attribute 'default_slice_config'" (found by replaying the compiled spec). This parses the
string first; everything else is TFX's.
"""

from typing import Any

from tfx import types
from tfx.components import DistributionValidator as TfxDistributionValidator
from tfx.components.distribution_validator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import distribution_validator_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

_CONFIG_KEY = standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY


class Executor(tfx_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> Any:
        config = exec_properties.get(_CONFIG_KEY)
        if isinstance(config, str):
            parsed = proto_utils.json_to_proto(config, distribution_validator_pb2.DistributionValidatorConfig())
            exec_properties = {**exec_properties, _CONFIG_KEY: parsed}
        return super().Do(input_dict, output_dict, exec_properties)


class DistributionValidator(TfxDistributionValidator):
    """TFX's DistributionValidator with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
