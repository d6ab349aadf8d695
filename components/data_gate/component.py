"""DataGate: stops the pipeline when ExampleValidator reports anomalies (TFX 1.16 only records them)."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.data_gate import executor


class DataGateSpec(types.ComponentSpec):
    PARAMETERS = {executor.MODEL_COLUMNS_KEY: component_spec.ExecutionParameter(type=str, optional=True)}
    INPUTS = {executor.ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class DataGate(base_component.BaseComponent):
    """Fails when the anomalies artifact is not empty; make training depend on it with `add_upstream_node`.

    `model_columns` (a JSON list; none: every column counts): only anomalies of these columns, and of the dataset,
    stop the run; the others are logged. For a schema inferred from the data itself, where a column the model never
    reads (a nearly empty one, present in one split only) would otherwise stop every run.
    """

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.BaseChannel, model_columns: str | None = None):
        super().__init__(spec=DataGateSpec(anomalies=anomalies, model_columns=model_columns))
