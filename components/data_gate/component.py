"""DataGate: stops the pipeline when ExampleValidator reports anomalies (TFX 1.16 only records them)."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.data_gate import executor


class DataGateSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {executor.ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class DataGate(base_component.BaseComponent):
    """Fails when the anomalies artifact is not empty; make training depend on it with `add_upstream_node`."""

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.BaseChannel):
        super().__init__(spec=DataGateSpec(anomalies=anomalies))
