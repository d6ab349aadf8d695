"""DriftGate: stops the run before Transform when the newest span drifted from the previous one.

TFX's DistributionValidator measures the drift (TFDV's comparators) but only records it; this reads its result,
adds the change of the label's positive rate (from the label counts WindowExampleGen records on its Examples),
applies the configured block/warn action per feature, writes every measurement to `drift.json` in its output, and
raises on a blocking one.
"""

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.drift_gate import executor


class DriftReport(types.Artifact):
    """DriftGate's output: drift.json, and how many measures were over a blocking or a warning threshold."""

    # "<top-level module>.<class>": KFP's rule for a schema title, by which TFX's Kubeflow entrypoint imports the type.
    TYPE_NAME = "components.DriftReport"


class DriftGateSpec(types.ComponentSpec):
    PARAMETERS = {executor.SETTINGS_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS = {
        executor.ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {executor.DRIFT_KEY: component_spec.ChannelParameter(type=DriftReport)}


class DriftGate(base_component.BaseComponent):
    """Fails on blocking drift; make Transform depend on it with `add_upstream_node`."""

    SPEC_CLASS = DriftGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.BaseChannel, examples: types.BaseChannel, settings: dict[str, Any]):
        """`settings`: default_action, feature_actions {feature: action}, row_count_action, and label
        {max_rate_change, action}."""
        drift = types.Channel(type=DriftReport)
        super().__init__(
            spec=DriftGateSpec(
                anomalies=anomalies, examples=examples, settings=json.dumps(settings, sort_keys=True), drift=drift
            )
        )
