"""ServingBaseline: the model currently served, as the Evaluator's baseline, without a Resolver node.

Resolver nodes compile to `resolver` executors that open-source Kubeflow Pipelines rejects, so both the local
and the Kubeflow pipeline read the baseline from the serving directory instead. Taking the candidate model as
input orders this step after training. What it reads lives outside the pipeline (a push, a rollback or a copy by
hand changes it without changing any input), so the runners never take it from the cache
(`pipeline.pipeline.NEVER_CACHED`): whatever else is reused, the candidate is compared with the version served when
the run reaches this step.
"""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.serving_baseline import executor


class ServingBaselineSpec(types.ComponentSpec):
    PARAMETERS = {executor.SERVING_MODEL_DIR_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS = {executor.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {executor.BASELINE_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}


class ServingBaseline(base_component.BaseComponent):
    """Emits the served version under `serving_model_dir`: the `stable` label's when models.config labels one, else
    the latest complete version (marked empty when none exists)."""

    SPEC_CLASS = ServingBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, serving_model_dir: str):
        baseline_model = types.Channel(type=standard_artifacts.Model)
        super().__init__(
            spec=ServingBaselineSpec(model=model, serving_model_dir=serving_model_dir, baseline_model=baseline_model)
        )
