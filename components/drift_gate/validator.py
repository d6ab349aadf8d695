"""TFX's DistributionValidator, made to compare two splits of one statistics artifact, on Kubeflow as well.

- One input: the newest and the previous span are splits of the same ExampleStatistics. TFX's component would take
  that artifact twice (`statistics` and `baseline_statistics`), which the KFP v2 driver records as two INPUT events
  of one artifact for one execution: ML Metadata refuses the second (its events are unique on artifact, execution
  and type), so the task would fail on a cluster. The executor passes the one artifact as both.
- TFX 1.16's executor expects its `config` execution property as a DistributionValidatorConfig proto, which the
  local launcher provides; the Kubeflow v2 entrypoint passes the JSON string instead, and the executor then fails
  with "'str' object has no attribute 'default_slice_config'" (found by replaying the compiled spec). The executor
  parses the string first.
- No split pair to compare: with a single span WindowExampleGen writes no drift splits (nothing to compare with),
  and TFX's executor would fail on the missing pair. The executor records empty anomalies (no split pair) instead,
  and DriftGate records "not checked".

Everything else is TFX's executor.
"""

import os
from typing import Any

from tfx import types
from tfx.components.distribution_validator import executor as tfx_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import distribution_validator_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils, proto_utils

_CONFIG_KEY = standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY
_STATISTICS_KEY = standard_component_specs.STATISTICS_KEY


def anomalies_path(anomalies_uri: str, test_split: str, baseline_split: str) -> str:
    """Where the executor writes a split pair's Anomalies. TFX 1.16 names the file (DEFAULT_FILE_NAME) but builds the
    folder, `SplitPair-<test>_<baseline>`, inline in its Do, with no constant or reader for it."""
    return os.path.join(anomalies_uri, f"SplitPair-{test_split}_{baseline_split}", tfx_executor.DEFAULT_FILE_NAME)


class SplitPairValidatorSpec(standard_component_specs.DistributionValidatorSpec):
    """TFX's spec without `baseline_statistics`: the split pairs compare splits of `statistics`."""

    INPUTS = {_STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics)}


class Executor(tfx_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> Any:
        statistics = artifact_utils.get_single_instance(input_dict[_STATISTICS_KEY])
        present = set(artifact_utils.decode_split_names(statistics.split_names))
        pairs = json_utils.loads(exec_properties.get(standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY) or "[]")
        if pairs and not any(set(pair) <= present for pair in pairs):
            anomalies = artifact_utils.get_single_instance(output_dict[standard_component_specs.ANOMALIES_KEY])
            anomalies.split_names = artifact_utils.encode_split_names([])
            return None
        input_dict = {**input_dict, standard_component_specs.BASELINE_STATISTICS_KEY: input_dict[_STATISTICS_KEY]}
        config = exec_properties.get(_CONFIG_KEY)
        if isinstance(config, str):
            parsed = proto_utils.json_to_proto(config, distribution_validator_pb2.DistributionValidatorConfig())
            exec_properties = {**exec_properties, _CONFIG_KEY: parsed}
        return super().Do(input_dict, output_dict, exec_properties)


class DistributionValidator(base_component.BaseComponent):
    """Compares split pairs of one ExampleStatistics artifact, e.g. [("newest_span", "previous_span")]."""

    SPEC_CLASS = SplitPairValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        config: distribution_validator_pb2.DistributionValidatorConfig,
        include_split_pairs: list[tuple[str, str]],
    ):
        spec = SplitPairValidatorSpec(
            **{
                _STATISTICS_KEY: statistics,
                _CONFIG_KEY: config,
                standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: json_utils.dumps(include_split_pairs),
                standard_component_specs.ANOMALIES_KEY: types.Channel(type=standard_artifacts.ExampleAnomalies),
            }
        )
        super().__init__(spec=spec)
