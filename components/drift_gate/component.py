"""DriftGate and DriftStop: the verdict on the newest span against its reference, and the stop before Transform.

TFX's DistributionValidator measures the drift (TFDV's comparators) but only records it. DriftGate reads its result,
adds the change of the median of each numeric feature (from StatisticsGen's statistics of the two spans) and of the
label's positive rate (from the label counts WindowExampleGen records on its Examples), applies the configured
block/warn action per feature and an acceptance given on request, writes every measurement to `drift.json` and
records its verdict (passed, accepted, rejected, not checked) on its output, in ML Metadata. DriftStop fails the run
on a rejection, so that the verdict is recorded even when the run stops.
"""

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.drift_gate import executor


class DriftReport(types.Artifact):
    """DriftGate's output: drift.json, the verdict on the newest span, and how many measures were over a blocking or
    a warning threshold."""

    # "<top-level module>.<class>": KFP's rule for a schema title, by which TFX's Kubeflow entrypoint imports the type.
    TYPE_NAME = "components.DriftReport"


class DriftGateSpec(types.ComponentSpec):
    PARAMETERS = {
        executor.SETTINGS_KEY: component_spec.ExecutionParameter(type=str),
        executor.ACCEPTANCE_KEY: component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {
        executor.ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        executor.STATISTICS_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleStatistics),
    }
    OUTPUTS = {executor.DRIFT_KEY: component_spec.ChannelParameter(type=DriftReport)}


class DriftGate(base_component.BaseComponent):
    """Records the verdict on the newest span; DriftStop stops the run when it is "rejected"."""

    SPEC_CLASS = DriftGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        anomalies: types.BaseChannel,
        examples: types.BaseChannel,
        statistics: types.BaseChannel,
        settings: dict[str, Any],
        acceptance: str = "{}",
    ):
        """`settings`: pipeline_name, default_action, feature_actions {feature: action}, median_change {feature:
        threshold}, row_count_action, and label {max_rate_change, confidence, action}. `acceptance`: ledger.py's
        Acceptance as JSON, "{}" for none (on Kubeflow, the window resolver's output replaces it)."""
        super().__init__(
            spec=DriftGateSpec(
                anomalies=anomalies,
                examples=examples,
                statistics=statistics,
                settings=json.dumps(settings, sort_keys=True),
                acceptance=acceptance,
                drift=types.Channel(type=DriftReport),
            )
        )


class DriftStopSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {executor.DRIFT_KEY: component_spec.ChannelParameter(type=DriftReport)}
    OUTPUTS = {}


class DriftStop(base_component.BaseComponent):
    """Fails on a rejected span; make Transform depend on it with `add_upstream_node`."""

    SPEC_CLASS = DriftStopSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.StopExecutor)

    def __init__(self, drift: types.BaseChannel):
        super().__init__(spec=DriftStopSpec(drift=drift))
