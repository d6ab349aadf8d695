"""ChampionEvaluator: TFX's Evaluator, with the push policy against the served model decided on its output.

The same inputs and outputs as TFX's Evaluator (the pipeline gives it the node id "Evaluator"), plus one parameter,
`comparison`: the `evaluation.comparison` section of the configuration as JSON, and one option, `max_rows`: the most
eval rows scored, a deterministic hash sample of them beyond it (0: every row). The candidate is blessed when TFMA's
value thresholds pass and the comparison with the served model (ServingBaseline's output; empty when nothing is
served) passes the policy; the Pusher pushes only a blessed model, locally and on Kubeflow alike.
"""

import json
from typing import Any

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.champion_evaluator import executor, properties


class ChampionEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        properties.COMPARISON_KEY: component_spec.ExecutionParameter(type=str),
        properties.MAX_ROWS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
    }


class ChampionEvaluator(base_beam_component.BaseBeamComponent):
    """Evaluates the candidate (and the served model, when there is one) on `example_splits` of `examples`."""

    SPEC_CLASS = ChampionEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        comparison: dict[str, Any],
        example_splits: list[str],
        max_rows: int = 0,
    ):
        super().__init__(
            spec=ChampionEvaluatorSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                eval_config=eval_config,
                example_splits=json_utils.dumps(example_splits),
                comparison=json.dumps(comparison, sort_keys=True),
                max_rows=max_rows,
                evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
